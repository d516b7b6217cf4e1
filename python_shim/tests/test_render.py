"""The text front end: the summary after each cell, %oomguard, dashboard(); and when a
JupyterLab-style comm is attached, silence."""
import io
import re
import time

import pytest
from kernel_session import KernelSession

from oomguard import render
from oomguard.magics import SUBCOMMANDS
from oomguard.records import CellRecord

MiB = 1 << 20
GiB = 1 << 30
OPEN = {"v": 1, "type": "open", "client": "pytest"}
SUMMARY = re.compile(r"^\[oomguard\] cell (\d+): ", re.M)


def make_record(**changes):
    fields = dict(execution_count=12, cell_id=None, start=1000.0, duration=1.23,
                  ram_before=1 * GiB, ram_after=1 * GiB + 512 * MiB, ram_peak=2 * GiB)
    fields.update(changes)
    return CellRecord(**fields)


READING = {"limit": int(12.7 * GiB), "used": int(2.1 * GiB), "free": int(10.6 * GiB),
           "limit_source": "cgroup v2"}


def summary(record, reading=READING, mode="summary", encoding="utf-8"):
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    render.print_summary(record, reading, mode, stream)
    stream.seek(0)
    return stream.read()


# -- formatting, without a kernel ---------------------------------------------------------
def test_the_one_line_summary():
    assert summary(make_record()) == ("[oomguard] cell 12: +512 MiB (peak +1.0 GiB) · "
                                      "2.1 GiB of 12.7 GiB session (cgroup v2) · 1.2 s\n")


def test_summary_variants():
    ascii_only = summary(make_record(status="interrupted", peak_method="sampled"),
                         encoding="ascii")
    assert ascii_only == ("[oomguard] cell 12: +512 MiB (sampled peak +1.0 GiB) | "
                          "2.1 GiB of 12.7 GiB session (cgroup v2) | 1.2 s | interrupted\n")
    shrunk = summary(make_record(ram_after=GiB - 3 * MiB, execution_count=None, duration=0.04),
                     reading={"limit": None})
    assert shrunk == "[oomguard] cell: -3.0 MiB (peak +1.0 GiB) · 40 ms\n"
    unmeasured = summary(make_record(ram_before=None, ram_after=None, ram_peak=None))
    assert unmeasured.startswith("[oomguard] cell 12: RAM not measured · ")


def test_verbose_adds_gpus_peaks_and_notes():
    record = make_record(container_peak=3 * GiB, notes=["The <GPU> was asleep."],
                         gpu=[{"index": 0, "before": GiB, "after": GiB + 100 * MiB,
                               "peak": 3 * GiB}])
    lines = summary(record, mode="verbose").splitlines()
    assert lines[1] == ("  kernel RSS 1.0 GiB → 1.5 GiB, peak 2.0 GiB, exact (VmHWM)")
    assert "  container peak 3.0 GiB (cgroup memory.peak)" in lines
    assert "  free for the session: 10.6 GiB" in lines
    assert "  GPU 0: +100 MiB (peak +2.0 GiB) · 1.0 GiB → 1.1 GiB" in lines
    assert lines[-1] == "  note: The <GPU> was asleep."


def test_tables():
    table = render.cells_table([make_record(), make_record(execution_count=13, status="error")])
    header, first, second = table.splitlines()
    assert header.split() == ["cell", "status", "time", "RAM", "Δ", "peak", "Δ", "RAM",
                              "after", "peak"]
    assert first.split() == ["12", "ok", "1.2", "s", "+512", "MiB", "+1.0", "GiB", "1.5",
                             "GiB", "hwm"]
    assert second.split()[:2] == ["13", "error"]
    assert render.cells_table([]) == "[oomguard] no cells recorded yet"

    found = [{"name": "small", "type": "builtins.bytes", "bytes": 10, "device": "cpu",
              "shape": None, "dtype": None, "truncated": False},
             {"name": "big", "type": "torch.Tensor", "bytes": 3 * GiB, "device": "cuda:0",
              "shape": [1024, 768], "dtype": "float32", "truncated": True}]
    rows = render.variables_table(found, truncated=True, limit=1).splitlines()
    assert rows[1].split() == ["big", "torch.Tensor", "3.0", "GiB+", "cuda:0", "1024x768",
                               "float32"]
    assert len(rows) == 3 and "time budget" in rows[2]


def test_dashboard_html_escapes_everything_from_the_kernel():
    snap = dict(READING, rss=GiB, children_rss=0, host_total=None,
                notes=["<img src=x onerror=alert(1)> & more"], running_cell=None,
                gpus=[{"index": 0, "name": "<b>GPU</b>", "used": GiB, "total": 8 * GiB}])
    bundle = render.dashboard_bundle(snap, make_record(), time.time())
    assert "<img" not in bundle["text/html"] and "<b>GPU" not in bundle["text/html"]
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in bundle["text/html"]
    assert "&lt;b&gt;GPU&lt;/b&gt;" in bundle["text/html"]
    assert "note: <img src=x onerror=alert(1)> & more" in bundle["text/plain"]
    assert "last cell 12: +512 MiB (peak +1.0 GiB)" in bundle["text/plain"]


# -- in a real kernel ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    session = KernelSession(tmp_path_factory.mktemp("render"))
    try:
        session.execute("%load_ext oomguard\nimport oomguard, time\n"
                        "oomguard.enable(interval=0.2)")
        yield session
    finally:
        session.shutdown()


def stdout(messages):
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def summaries(messages):
    return SUMMARY.findall(stdout(messages))


@pytest.mark.kernel
def test_a_summary_follows_each_cell_without_a_front_end(kernel):
    reply, messages = kernel.run("x = b'\\x01' * (64 << 20)\nprint('user output')")
    text = stdout(messages)
    assert text.startswith("user output\n")  # after the cell's own output
    line = text.splitlines()[1]
    assert re.fullmatch(r"\[oomguard\] cell (\d+): \+6[3-5]\.\d MiB \(peak \+6[3-5]\.\d MiB\) · "
                        r"\S+ \S+ of \S+ \S+ session \([^)]+\) · \d+ ms", line), line
    assert int(SUMMARY.match(line).group(1)) == reply["execution_count"]
    kernel.run("del x")


@pytest.mark.kernel
def test_line_magic(kernel):
    _, messages = kernel.run("%oomguard")
    text = stdout(messages)
    assert text.startswith("[oomguard] peaks per cell: exact (VmHWM) · summary after each "
                           "cell: summary\nkernel RSS ")
    assert "session" in text or "limit" in text

    kernel.run("a = 1")
    _, messages = kernel.run("%oomguard cells 3")
    rows = stdout(messages).splitlines()
    assert rows[0].split()[:3] == ["cell", "status", "time"] and len(rows) == 1 + 3 + 1
    assert rows[3].split()[1] == "ok"  # "a = 1"; then %oomguard cells' own summary line

    kernel.run("held = b'\\x01' * (32 << 20)")
    _, messages = kernel.run("%oomguard vars 5")
    rows = stdout(messages).splitlines()
    assert rows[0].split() == ["name", "type", "size", "device", "shape", "dtype"]
    assert rows[1].split()[:4] == ["held", "builtins.bytes", "32.0", "MiB"]
    assert kernel.evaluate("[v['name'] for v in oomguard.variables()][:1]") == ["held"]

    # One Magics class (magics.py) owns both %oomguard and %%oomguard.
    assert kernel.evaluate("[type(get_ipython().magics_manager.magics[kind]['oomguard']"
                           ".__self__).__name__ for kind in ('line', 'cell')]") == \
        ["OomguardMagics", "OomguardMagics"]
    kernel.run("del held")


@pytest.mark.kernel
def test_a_wrong_subcommand_is_named_never_a_traceback(kernel):
    reply, messages = kernel.run("%oomguard bogus")
    said = stdout(messages)
    assert reply["status"] == "ok" and not [m for m in messages if m["msg_type"] == "error"]
    assert said.startswith("[oomguard] unknown subcommand 'bogus'.")
    for name in SUBCOMMANDS:
        assert f"\n  {name}" in said, name
    reply, messages = kernel.run("%oomguard cells many")
    said = stdout(messages)
    assert reply["status"] == "ok" and "invalid int value: 'many'" in said
    assert "Traceback" not in said


@pytest.mark.kernel
def test_the_magics_help_documents_every_subcommand(kernel):
    reply, _ = kernel.run("%oomguard?")
    page = "".join(p["data"]["text/plain"] for p in reply["payload"] if p.get("source") == "page")
    for name, (_args, what) in SUBCOMMANDS.items():
        assert f"  {name}" in page and what.split()[0] in page, name
    assert "%oomguard [SUBCOMMAND] [N]" in page


@pytest.mark.kernel
def test_allow_as_a_line_magic_lets_the_next_cell_through(kernel):
    kernel.execute("oomguard.enable(mode='block')\n"
                   "_prior_predictor = oomguard._runtime.guard.predictor\n"
                   "oomguard._runtime.guard.predictor = lambda source, *a, **k: "
                   "[{'kind': 'test', 'line': 1, 'bytes': 1 << 40, 'peak_bytes': 1 << 40, "
                   "'device': 'cpu', 'risky': True, 'message': 'huge', 'suggestion': '', "
                   "'exact': True}] if 'HUGE' in source else []")
    try:
        reply, messages = kernel.run("%oomguard allow")
        assert reply["status"] == "ok" and "next cell runs without" in stdout(messages)
        assert kernel.run("once = 1  # HUGE")[0]["status"] == "ok"
        assert kernel.run("twice = 1  # HUGE")[0]["ename"] == "InputRejected"
    finally:
        kernel.execute("oomguard._runtime.guard.predictor = _prior_predictor\n"
                       "oomguard.enable(mode='auto')")


@pytest.mark.kernel
def test_dashboard_updates_while_a_cell_runs(kernel):
    _, messages = kernel.run("board = oomguard.dashboard()")
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert len(shown) == 1 and not [m for m in messages if m["msg_type"] == "execute_result"]
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert shown[0]["content"]["data"]["text/plain"].startswith("oomguard\nkernel RSS ")
    assert "<table" in shown[0]["content"]["data"]["text/html"]

    since = kernel.mark()
    started = time.time()
    kernel.run("time.sleep(3)")
    time.sleep(1.3)  # one more update after the cell ends, showing how it ended
    updates = [(t, m) for t, m in kernel.messages[since:]
               if m["msg_type"] == "update_display_data"]
    assert all(m["content"]["transient"]["display_id"] == display_id for _, m in updates)
    during = [t for t, _ in updates if t < started + 3]
    assert 2 <= len(during) <= 4, [t - started for t, _ in updates]
    times = [t for t, _ in updates]
    assert all(b - a > 0.8 for a, b in zip(times, times[1:]))  # at most about once a second
    assert "last cell" in updates[-1][1]["content"]["data"]["text/plain"]
    assert re.search(r"running: cell \d+ for \d\.\d s, [+-]\S+ \S+ so far",
                     updates[1][1]["content"]["data"]["text/plain"])

    # A new dashboard replaces the old one; stop() ends the updates.
    kernel.run("board2 = oomguard.dashboard()")
    assert kernel.evaluate("repr(board)") == "<oomguard dashboard stopped>"
    kernel.execute("board2.stop()")
    since = kernel.mark()
    kernel.run("time.sleep(1.5)")
    assert not [m for _, m in kernel.messages[since:] if m["msg_type"] == "update_display_data"]


@pytest.mark.kernel
def test_quiet_while_a_front_end_is_attached_unless_asked(kernel):
    comm_id = kernel.open_comm(OPEN)
    kernel.wait_comm(comm_id, "sample")
    try:
        _, messages = kernel.run("q = 1")
        assert summaries(messages) == []
        kernel.execute("oomguard.enable(summary='summary')")  # asked for explicitly
        _, messages = kernel.run("q = 2")
        assert len(summaries(messages)) == 1
        kernel.execute("oomguard.enable(summary='off')")
        kernel.execute("oomguard.enable()")  # as the front end does: keeps the user's choice
        _, messages = kernel.run("q = 3")
        assert summaries(messages) == []
    finally:
        kernel.execute("oomguard.enable(summary=None)")
    kernel._send_shell("comm_close", {"comm_id": comm_id, "data": {}})  # the front end left
    assert kernel.evaluate("oomguard._runtime.bridge.open_comms") == 0
    _, messages = kernel.run("q = 4")
    assert len(summaries(messages)) == 1


@pytest.mark.kernel
def test_verbose_mode_and_disable(kernel):
    kernel.execute("oomguard.enable(summary='verbose')")
    try:
        _, messages = kernel.run("v = 1")
        lines = stdout(messages).splitlines()
        assert SUMMARY.match(lines[0]) and lines[1].startswith("  kernel RSS ")
    finally:
        kernel.execute("oomguard.enable(summary=None)")
    kernel.execute("oomguard.disable()")
    try:
        _, messages = kernel.run("v = 2")
        assert stdout(messages) == ""
    finally:
        kernel.execute("oomguard.enable(interval=0.2)")


def test_the_text_mode_says_what_one_container_wide_oom_kill_means():
    snap = dict(READING, rss=GiB, children_rss=0, host_total=None, notes=[], gpus=[])
    grouped = render.snapshot_text(snap, "hwm", "summary", (True, "/sys/fs/cgroup/memory.oom.group"))
    line = grouped.splitlines()[-1]
    assert "memory.oom.group = 1 (/sys/fs/cgroup/memory.oom.group)" in line
    assert "every other kernel and the Jupyter server" in line
    assert "watchdog is then all that stands between you and losing every session" in line
    assert "spool on persistent storage" in line
    for answer in ((False, "/sys/fs/cgroup/memory.oom.group"), (None, None)):
        assert "oom.group" not in render.snapshot_text(snap, "hwm", "summary", answer)
