"""The guard in a real ipykernel: warn / block / off with an injected predictor,
`%%oomguard allow` and oomguard.allow_next(), the watchdog and the hard cap."""
import re

import pytest
from kernel_session import KernelSession
from oomguard.guard.watchdog import MIN_FURTHER_GROWTH

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

OPEN = {"v": 1, "type": "open", "client": "pytest"}

# A stand-in for the predictor (the guard's block/warn logic is what is tested here): any
# line that mentions HUGE allocates 1 TiB, more than any test machine has free.
FAKE_PREDICTOR = '''
import oomguard
def _fake_predict(source, namespace, *, ram_available=None, vram_available=None):
    _fake_predict.calls += 1
    found = []
    for number, text in enumerate(source.splitlines(), 1):
        if "HUGE" in text:
            found.append({"kind": "dense_constructor", "line": number, "bytes": 1 << 40,
                          "peak_bytes": 1 << 40, "device": "cpu", "risky": True,
                          "message": "torch.zeros(n, n) makes a 1.0 TiB float32 tensor",
                          "suggestion": "keep the graph sparse (edge_index)"})
        elif "SMALL" in text:
            found.append({"kind": "dense_constructor", "line": number, "bytes": 2 << 20,
                          "peak_bytes": 2 << 20, "device": "cpu", "risky": False,
                          "message": "a 2 MiB tensor", "suggestion": ""})
    return found
_fake_predict.calls = 0
oomguard._runtime.guard.predictor = _fake_predict
'''


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    session = KernelSession(tmp_path_factory.mktemp("guard"))
    try:
        session.execute("import oomguard\noomguard.enable(summary='off')\n" + FAKE_PREDICTOR)
        yield session
    finally:
        session.shutdown()


def text_of(messages, name=None):
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and (name is None or m["content"]["name"] == name))


def _shown_bytes(text: str) -> float:
    size, unit = text.split()
    return float(size) * (1 << (30 if unit == "GiB" else 20))


def last_record(kernel):
    return kernel.evaluate("oomguard.cells()[-1].to_dict()")


def test_block_mode_rejects_a_risky_cell_before_it_runs(kernel):
    kernel.execute("oomguard.enable(mode='block')")
    kernel.execute("blocked_var = 'before'")
    reply, messages = kernel.run("blocked_var = 'changed'\nx = 1  # HUGE\n")
    assert reply["status"] == "error"
    assert reply["ename"] == "InputRejected"
    shown = "\n".join(reply["traceback"])
    assert "blocked this cell before it ran" in shown
    assert "line 2" in shown and "1.0 TiB" in shown and "free of a" in shown
    assert "edge_index" in shown  # the suggestion
    assert "%%oomguard allow" in shown and "oomguard.allow_next()" in shown
    assert "interactiveshell" not in shown  # no traceback through IPython's frames
    assert kernel.evaluate("blocked_var") == "before"  # nothing of the cell ran
    record = last_record(kernel)
    assert record["status"] == "blocked"
    assert [f["line"] for f in record["findings"]] == [2]


def test_block_mode_runs_safe_cells_and_records_their_findings(kernel):
    kernel.execute("oomguard.enable(mode='block')")
    reply, _ = kernel.run("safe = 3  # SMALL")
    assert reply["status"] == "ok" and kernel.evaluate("safe") == 3
    record = last_record(kernel)
    assert record["status"] == "ok" and record["findings"][0]["risky"] is False


def test_allow_magic_runs_a_risky_cell_with_its_last_expression_shown(kernel):
    kernel.execute("oomguard.enable(mode='block')")
    reply, messages = kernel.run("%%oomguard allow\nallowed = 41  # HUGE\nallowed + 1")
    assert reply["status"] == "ok"
    results = [m for m in messages if m["msg_type"] == "execute_result"]
    assert results and results[0]["content"]["data"]["text/plain"] == "42"
    assert kernel.evaluate("allowed") == 41
    assert last_record(kernel)["status"] == "ok"
    # Only that cell: the next risky one is blocked again.
    reply, _ = kernel.run("again = 1  # HUGE")
    assert reply["status"] == "error" and reply["ename"] == "InputRejected"


def test_allow_next_lets_exactly_one_cell_through(kernel):
    kernel.execute("oomguard.enable(mode='block')")
    assert kernel.run("oomguard.allow_next()")[0]["status"] == "ok"
    reply, _ = kernel.run("once = 1  # HUGE")
    assert reply["status"] == "ok" and kernel.evaluate("once") == 1
    reply, _ = kernel.run("twice = 1  # HUGE")
    assert reply["status"] == "error" and reply["ename"] == "InputRejected"


def test_the_cell_magic_with_other_words_shows_its_usage_and_runs_nothing(kernel):
    reply, messages = kernel.run("%%oomguard please\nnot_run = 1")
    assert reply["status"] == "ok"
    assert "usage: %%oomguard allow" in text_of(messages, "stdout")
    assert kernel.evaluate("'not_run' in globals()") is False


def test_warn_mode_says_so_then_runs_the_cell(kernel):
    kernel.execute("oomguard.enable(mode='warn')")
    reply, messages = kernel.run("warned = 'ran'  # HUGE")
    assert reply["status"] == "ok" and kernel.evaluate("warned") == "ran"
    said = text_of(messages, "stderr")
    assert "may run out of memory" in said and "line 1" in said and "edge_index" in said
    record = last_record(kernel)
    assert record["status"] == "ok" and record["findings"][0]["risky"] is True


def test_warn_mode_tells_jupyterlab_through_the_comm_instead_of_printing(kernel):
    kernel.execute("oomguard.enable(mode='warn')")
    comm_id = kernel.open_comm(OPEN)
    kernel.wait_comm(comm_id, "hello")
    try:
        since = kernel.mark()
        reply, messages = kernel.run("lab = 1  # HUGE", metadata={"cellId": "cell-7"})
        assert reply["status"] == "ok"
        warning = kernel.wait_comm(comm_id, "warning", since=since)[0]
        assert warning["v"] == 1 and warning["mode"] == "warn"
        assert warning["cell_id"] == "cell-7"
        assert warning["execution_count"] == reply["execution_count"]
        assert warning["findings"][0]["line"] == 1 and warning["findings"][0]["risky"]
        assert isinstance(warning["free"]["cpu"], int) and warning["limit"] > 0
        assert "may run out of memory" not in text_of(messages)
    finally:
        kernel._send_shell("comm_close", {"comm_id": comm_id, "data": {}})
        kernel.execute("import time; time.sleep(0.2)")


def test_off_mode_does_nothing(kernel):
    kernel.execute("oomguard.enable(mode='off')")
    calls = kernel.evaluate("_fake_predict.calls")
    reply, messages = kernel.run("quiet = 1  # HUGE")
    assert reply["status"] == "ok" and kernel.evaluate("quiet") == 1
    assert "oomguard" not in text_of(messages)
    assert kernel.evaluate("_fake_predict.calls") == calls  # not even asked
    assert last_record(kernel)["findings"] == []


def test_a_bad_mode_is_refused_and_the_old_one_kept(kernel):
    kernel.execute("oomguard.enable(mode='block')")
    reply, messages = kernel.run("oomguard.enable(mode='strict')")
    assert reply["status"] == "ok"
    assert kernel.evaluate("oomguard._runtime.guard.mode") == "block"
    kernel.execute("oomguard.enable(mode='warn')")


def test_a_failing_predictor_never_breaks_the_cell(kernel):
    kernel.execute("oomguard.enable(mode='block')\n"
                   "def _broken(*a, **k): raise ValueError('predictor bug')\n"
                   "oomguard._runtime.guard.predictor = _broken")
    try:
        reply, messages = kernel.run("fine = 5  # HUGE")
        assert reply["status"] == "ok" and kernel.evaluate("fine") == 5
        assert "predictor bug" not in text_of(messages)
    finally:
        kernel.execute("oomguard._runtime.guard.predictor = _fake_predict\n"
                       "oomguard.enable(mode='warn')")


GROW = "grown = []\nwhile True:\n    grown.append(b'x' * (8 << 20))\n"
RLIMIT_DATA = "__import__('resource').getrlimit(__import__('resource').RLIMIT_DATA)"
RSS = "int(open('/proc/self/statm').read().split()[1]) * __import__('os').sysconf('SC_PAGE_SIZE')"


def test_the_watchdog_interrupts_a_growing_loop_and_the_kernel_survives(kernel):
    kernel.execute("sentinel = 'still here'")
    rss = kernel.evaluate(RSS)
    limit = rss + (600 << 20)
    kernel.execute(f"oomguard.enable(mode='off', limit={limit}, watchdog=0.9)")
    try:
        reply, messages = kernel.run(GROW, timeout=60)
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
        said = text_of(messages, "stderr")
        assert "oomguard: stopped at" in said and "variables are still there" in said
        assert kernel.evaluate("sentinel") == "still here"
        grown = kernel.evaluate("len(grown) * (8 << 20)")
        record = last_record(kernel)
        note = next(note for note in record["notes"] if note.startswith("stopped at"))
        acted_at = _shown_bytes(re.search(r"the watchdog acts at ([\d.]+ [MG]iB)", note)[1])
        # At the 90% trigger, or before it where the cell's steps said the next would
        # reach the limit first (guard/growth.py); it ran up to there.
        assert acted_at <= 0.9 * limit + (1 << 20)
        assert grown > acted_at - rss - (64 << 20), note
        assert record["ram_peak"] < limit  # the cell's exact peak never reached the limit
        assert record["status"] == "interrupted" and record["stopped_by"] == "watchdog"
        assert any(note.startswith("stopped at") and "limit" in note for note in record["notes"])
        # Memory is still above the trigger: the next cells (del) must not be interrupted.
        reply, _ = kernel.run("import time; time.sleep(0.3); del grown")
        assert reply["status"] == "ok"
        assert last_record(kernel)["stopped_by"] is None
    finally:
        kernel.execute("grown = None; oomguard.enable(limit=None, watchdog=0.95, mode='warn')")


SAVE_AFTER_INTERRUPT = '''
import time
grown = []
try:
    while True:
        grown.append(b"x" * (8 << 20))
except KeyboardInterrupt:
    started, steps = time.monotonic(), 0
    while time.monotonic() - started < 2.5:  # saving a checkpoint, memory held, not grown
        steps += 1
    print("saved")
'''


def test_a_cell_that_catches_the_interrupt_can_save_while_it_holds_its_memory(kernel):
    # Memory stays above the trigger while the cell saves: no second interrupt (there
    # was one a second later), only on further growth.
    rss = kernel.evaluate(RSS)
    kernel.execute(f"oomguard.enable(mode='off', limit={rss + (400 << 20)}, watchdog=0.8)")
    try:
        reply, messages = kernel.run(SAVE_AFTER_INTERRUPT, timeout=60)
        assert reply["status"] == "ok", reply
        assert text_of(messages, "stdout").strip() == "saved"
        record = last_record(kernel)
        assert record["status"] == "interrupted" and record["stopped_by"] == "watchdog"
    finally:
        kernel.execute("grown = None; oomguard.enable(limit=None, watchdog=0.95, mode='warn')")


def test_a_cell_that_catches_the_interrupt_and_grows_on_is_interrupted_again(kernel):
    rss = kernel.evaluate(RSS)
    kernel.execute(f"oomguard.enable(mode='off', limit={rss + (400 << 20)}, watchdog=0.8)")
    # A pause after each 8 MiB, so that the interrupt lands within about one step of the
    # reading it acted on: the count when caught then tells where it fired. (Without the
    # pause, on a busy machine the first interrupt landed many steps late, and the
    # second, rightly due 64 MiB past the first firing, came fewer steps after the
    # first catch.) 40 MiB a second: slower than the further-growth step, so a watchdog
    # that acted again each second, as it once did, still fails this.
    code = ("import time\n"
            "grown, caught = [], []\n"
            "for _ in range(2):\n"
            "    try:\n"
            "        while True:\n"
            "            grown.append(b'x' * (8 << 20))\n"
            "            time.sleep(0.2)\n"
            "    except KeyboardInterrupt:\n"
            "        caught.append(len(grown))\n"
            "print(*caught)\n")
    try:
        reply, messages = kernel.run(code, timeout=90)
        assert reply["status"] == "ok", reply
        first, second = map(int, text_of(messages, "stdout").split())
        # The second time only after it grew on by the further-growth step (less the one
        # step that may be in flight when the first interrupt lands).
        assert (second - first + 1) * (8 << 20) >= MIN_FURTHER_GROWTH
    finally:
        kernel.execute("grown = None; oomguard.enable(limit=None, watchdog=0.95, mode='warn')")


def test_the_watchdog_is_disarmed_before_oomguards_own_end_of_cell_work(kernel):
    # A listener of the recorder runs inside oomguard's post_run_cell, as the comm, the
    # spool and the printed summary do. Memory there goes past the trigger and stays:
    # the watchdog must be off by then (no KeyboardInterrupt in our hook, no "Error in
    # callback", every listener after it runs, the record is not marked).
    rss = kernel.evaluate(RSS)
    kernel.execute(
        "import time as _time\n"
        "_done, _after = [], []\n"
        "def _slow_listener(record):\n"
        "    global _hog\n"
        f"    _hog = b'x' * {400 << 20}\n"
        "    _time.sleep(0.5)\n"
        "    _done.append(record.execution_count)\n"
        "oomguard._runtime.recorder.on_record.insert(0, _slow_listener)\n"
        "oomguard._runtime.recorder.on_record.append("
        "lambda record: _after.append(record.execution_count))\n"
        f"oomguard.enable(mode='off', limit={rss + (300 << 20)}, watchdog=0.9)", silent=True)
    try:
        reply, messages = kernel.run("x = 1")
        assert reply["status"] == "ok"
        printed = text_of(messages)
        assert "Error in callback" not in printed and "oomguard: stopped" not in printed
        count = reply["execution_count"]
        assert kernel.evaluate("(_done, _after)") == ([count], [count])
        record = last_record(kernel)
        assert record["status"] == "ok" and record["stopped_by"] is None
    finally:
        kernel.execute(
            "oomguard._runtime.recorder.on_record.remove(_slow_listener)\n"
            "oomguard._runtime.recorder.on_record.pop()\n"
            "_hog = None; oomguard.enable(limit=None, watchdog=0.95, mode='warn')", silent=True)


def test_the_watchdog_off_leaves_the_loop_alone(kernel):
    rss = kernel.evaluate(RSS)
    kernel.execute(f"oomguard.enable(mode='off', limit={rss + (300 << 20)}, watchdog=None)")
    try:
        code = "grown = []\nfor _ in range(50):\n    grown.append(b'x' * (8 << 20))\n"
        reply, _ = kernel.run(code, timeout=60)
        assert reply["status"] == "ok" and kernel.evaluate("len(grown)") == 50
    finally:
        kernel.execute("del grown; oomguard.enable(limit=None, watchdog=0.95, mode='warn')")


def test_the_hard_cap_turns_one_huge_allocation_into_memory_error(kernel):
    original = kernel.evaluate(RLIMIT_DATA)
    rss = kernel.evaluate(RSS)
    kernel.execute(f"oomguard.enable(limit={rss + (600 << 20)}, hard_cap=True)")
    try:
        reply, messages = kernel.run("kernel_alive = 1\nhuge = bytearray(4 << 30)")
        assert reply["status"] == "error" and reply["ename"] == "MemoryError"
        assert "memory cap" in text_of(messages, "stderr")
        assert kernel.evaluate("kernel_alive") == 1
        reply, _ = kernel.run("small = bytearray(64 << 20); del small")  # room under the cap
        assert reply["status"] == "ok"
    finally:
        kernel.execute("oomguard.enable(limit=None, hard_cap=False)")
    assert kernel.evaluate(RLIMIT_DATA) == original
    reply, _ = kernel.run("huge = bytearray(4 << 30); del huge")  # untouched pages: fine
    assert reply["status"] == "ok"


def _predictor_available():
    try:
        from oomguard.predict import predict  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.mark.skipif(not _predictor_available(), reason="the predictor is not in this tree")
def test_end_to_end_with_the_real_predictor(kernel):
    kernel.execute("oomguard._runtime.guard.predictor = None\n"  # the real oomguard.predict
                   "import torch\nn = 300_000")
    try:
        kernel.execute("oomguard.enable(mode='block')")
        reply, _ = kernel.run("small = torch.zeros(10, 10)\nadj = torch.zeros(n, n)")
        assert reply["status"] == "error" and reply["ename"] == "InputRejected"
        shown = "\n".join(reply["traceback"])
        assert "line 2 needs 335 GiB at peak on cpu" in shown, shown
        assert kernel.evaluate("'small' in globals() or 'adj' in globals()") is False
        record = last_record(kernel)
        assert record["status"] == "blocked"
        assert any(f["risky"] and f["line"] == 2 for f in record["findings"])

        kernel.execute("oomguard.enable(mode='warn')")
        reply, messages = kernel.run("ok = torch.zeros(256, 256)")  # 256 KiB: not reported
        assert reply["status"] == "ok" and "oomguard" not in text_of(messages)
    finally:
        kernel.execute("oomguard._runtime.guard.predictor = _fake_predict\n"
                       "oomguard.enable(mode='warn')")


def test_oomguard_release_drops_the_last_errors_traceback_and_what_it_keeps(kernel):
    # A function's local variables live on in the traceback kept for %debug: `del` cannot
    # reach them; `%oomguard release`, asked for, drops it and says so.
    kernel.execute("def _work():\n"
                   "    held = bytearray(300 << 20)\n"
                   "    raise ValueError('interrupted')\n")
    reply, _ = kernel.run("_work()")
    assert reply["status"] == "error"
    before = kernel.evaluate(RSS)
    reply, messages = kernel.run("%oomguard release")
    assert reply["status"] == "ok"
    said = text_of(messages, "stdout")
    assert "dropped the last error's traceback" in said and "%debug" in said
    assert kernel.evaluate(RSS) < before - (250 << 20), said
    assert kernel.evaluate("hasattr(__import__('sys'), 'last_traceback')") is False
    reply, messages = kernel.run("%oomguard release")
    assert "no error traceback was kept" in text_of(messages, "stdout")
