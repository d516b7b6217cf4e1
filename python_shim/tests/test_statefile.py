"""The kernel's state file (statefile.py): what it holds, how it is written (atomically,
owner-only, never through a link, only in a directory that is ours alone), how often,
and how the server's reader takes it, one field at a time."""
import json
import os
import stat
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from kernel_session import KernelSession

from oomguard.records import CellRecord
from oomguard.statefile import (MAX_BYTES, NAME_RE, ORPHAN_AGE_S, StateFile, Tally,
                                connection_stem, parse_state, process_identity,
                                prune_orphans, state_file_name)

READING = {"rss": 300 << 20, "limit": 2 << 30, "limit_source": "cgroup v2", "oom_kills": 4,
           "gpus": [{"index": 0, "used": 5 << 30, "total": 16 << 30, "name": "x"}]}
STEM = "kernel-0b7a6c9e-2f4d-4a31-9d57-0a1b2c3d4e5f"


def record(status="ok", peak=400 << 20, findings=()):
    return CellRecord(execution_count=1, cell_id="c", start=0.0, duration=0.1,
                      ram_before=100, ram_after=200, ram_peak=peak, status=status,
                      findings=list(findings))


@pytest.fixture
def runtime_dir(tmp_path):
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700)
    (directory / f"{STEM}.json").write_text("{}")
    return directory


def writer(runtime_dir, tally=None, interval=1.0):
    return StateFile(tally or Tally(), lambda: interval, lambda: "/sys/fs/cgroup/x/memory.events",
                     locate=lambda: str(runtime_dir / f"{STEM}.json"))


def own_file(runtime_dir):
    return runtime_dir / state_file_name(STEM, os.getpid())


def test_names_link_the_file_to_the_connection_file_and_the_process():
    assert connection_stem(f"/run/jupyter/{STEM}.json") == STEM
    assert connection_stem("kernel-v2-1234abc.json") == "kernel-v2-1234abc"
    for bad in (None, "", "/x/.json", "/x/..json", "/x/a b.json", "/x/" + "k" * 200 + ".json"):
        assert connection_stem(bad) is None, bad
    match = NAME_RE.match(state_file_name(STEM, 4321))
    assert (match["stem"], match["pid"]) == (STEM, "4321")
    assert NAME_RE.match(f".{state_file_name(STEM, 4321)}.tmp") is None


def test_a_reading_and_the_counts_make_one_owner_only_file(runtime_dir):
    tally = Tally()
    tally.cell_recorded(record("ok"))
    tally.cell_recorded(record("error", findings=[{"risky": True}, {"risky": False}]))
    tally.cell_recorded(record("interrupted", peak=900 << 20))
    tally.watchdog_fired()
    state = writer(runtime_dir, tally, interval=0.5)
    state.write_reading(READING)
    path = own_file(runtime_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_bytes())
    identity = process_identity()
    assert data["pid"] == os.getpid() and data["start_ticks"] == identity[1]
    assert data["cells"] == {"ok": 1, "error": 1, "blocked": 0, "interrupted": 1}
    assert (data["watchdog_interrupts"], data["risky_cells"]) == (1, 1)
    assert data["cell_peak"] == 900 << 20
    assert data["gpus"] == [{"index": 0, "used": 5 << 30}]  # names and the like stay home
    assert (data["interval"], data["sampling"], data["oom_kills"]) == (0.5, True, 4)
    assert data["oom_kills_file"] == "/sys/fs/cgroup/x/memory.events"
    parsed = parse_state(path.read_bytes())
    assert (parsed.rss, parsed.limit, parsed.limit_source) == (300 << 20, 2 << 30, "cgroup v2")
    assert parsed.gpus == ((0, 5 << 30),) and parsed.cells["interrupted"] == 1
    assert [p.name for p in runtime_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_writes_at_most_once_a_second_unless_a_cell_finished(runtime_dir):
    tally = Tally()
    state = writer(runtime_dir, tally)
    state.write_reading(READING)
    first = json.loads(own_file(runtime_dir).read_bytes())["t"]
    state.write_reading(dict(READING, rss=1))
    assert json.loads(own_file(runtime_dir).read_bytes())["t"] == first  # too soon
    tally.cell_recorded(record())
    state.write_reading(dict(READING, rss=2))  # a cell finished: at once
    data = json.loads(own_file(runtime_dir).read_bytes())
    assert (data["rss"], data["cells"]["ok"]) == (2, 1)


def test_stop_says_sampling_stopped_and_keeps_the_counts(runtime_dir):
    tally = Tally()
    tally.cell_recorded(record())
    state = writer(runtime_dir, tally)
    state.write_reading(READING)
    state.stop()
    data = parse_state(own_file(runtime_dir).read_bytes())
    assert data.sampling is False and data.cells["ok"] == 1
    state.write_reading(READING)  # enabled again: written again, sampling
    assert parse_state(own_file(runtime_dir).read_bytes()).sampling is True


EXIT_SCRIPT = """
import os, signal, sys, time
from oomguard.statefile import StateFile, Tally
state = StateFile(Tally(), lambda: 1.0, locate=lambda: sys.argv[1])
state.write_reading({"rss": 1})
print(state.path, flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


FORK_SCRIPT = """
import os, sys
from oomguard.statefile import StateFile, Tally
state = StateFile(Tally(), lambda: 1.0, locate=lambda: sys.argv[1])
state.write_reading({"rss": 1})
print(state.path, flush=True)
child = os.fork()
if child == 0:
    sys.exit(0)  # runs the atexit handlers it inherited
os.waitpid(child, 0)
os._exit(0)  # the parent leaves without them
"""


def test_a_forked_child_leaves_its_parents_file_alone(runtime_dir):
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(runtime_dir / f"{STEM}.json")],
                          capture_output=True, text=True, timeout=60)
    path = done.stdout.strip()
    state = parse_state(open(path, "rb").read())
    pid = int(NAME_RE.match(os.path.basename(path))["pid"])
    assert (state.exited, state.sampling, state.pid) == (False, True, pid)
    assert len(list(runtime_dir.glob("oomguard-state-*"))) == 1


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_normal_exit_says_so_a_kill_cannot(runtime_dir, how):
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(runtime_dir / f"{STEM}.json"),
                           how], capture_output=True, text=True, timeout=60)
    state = parse_state(open(done.stdout.strip(), "rb").read())
    assert (state.exited, state.sampling) == ((True, False) if how == "exit" else (False, True))


def test_links_are_replaced_never_followed(runtime_dir, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    name = state_file_name(STEM, os.getpid())
    os.symlink(target, runtime_dir / f".{name}.tmp")
    os.symlink(target, runtime_dir / name)
    writer(runtime_dir).write_reading(READING)
    assert target.read_text() == "untouched"
    assert not own_file(runtime_dir).is_symlink()
    assert parse_state(own_file(runtime_dir).read_bytes()).rss == READING["rss"]


def test_a_directory_others_can_write_gets_no_file_and_a_quiet_note(runtime_dir, caplog):
    os.chmod(runtime_dir, 0o1777)  # as /tmp, where jupyter_client alone puts them
    caplog.set_level("DEBUG", "oomguard")
    state = writer(runtime_dir)
    state.write_reading(READING)
    state.write_reading(READING)
    assert not own_file(runtime_dir).exists()
    assert "not only this user's to write" in state.note
    said = [r for r in caplog.records if "state file" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"]  # no server reads there: no warning


def test_outside_a_kernel_nothing_is_written_and_nothing_complains(tmp_path, caplog):
    state = StateFile(Tally(), lambda: 1.0, locate=lambda: None)
    state.write_reading(READING)
    assert state.path is None and state.note is None and not caplog.records


def test_a_failed_write_turns_the_file_off_with_one_warning(runtime_dir, caplog):
    state = writer(runtime_dir)
    state.write_reading(READING)
    os.chmod(runtime_dir, 0o500)  # root ignores modes: make the write fail another way
    try:
        os.unlink(own_file(runtime_dir))
        os.mkdir(own_file(runtime_dir))  # rename onto a directory fails
        state.tally.cell_recorded(record())
        state.write_reading(READING)
        state.tally.cell_recorded(record())
        state.write_reading(READING)
    finally:
        os.chmod(runtime_dir, 0o700)
    assert state.note and "could not write its state file" in state.note
    assert len([r for r in caplog.records if "state file" in r.getMessage()]) == 1


def test_orphans_of_dead_processes_are_pruned_after_a_day(runtime_dir):
    dead = _dead_pid()
    old = runtime_dir / state_file_name(STEM, dead)
    recent = runtime_dir / state_file_name("kernel-recent", dead)
    alive_old = runtime_dir / state_file_name("kernel-alive", os.getppid())
    other = runtime_dir / "kernel-unrelated.json"
    for path in (old, recent, alive_old, other):
        path.write_text("{}")
    long_ago = time.time() - ORPHAN_AGE_S - 60
    for path in (old, alive_old, other):
        os.utime(path, (long_ago, long_ago))
    fd = os.open(runtime_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert prune_orphans(fd) == 1
    finally:
        os.close(fd)
    assert not old.exists() and recent.exists() and alive_old.exists() and other.exists()


def test_the_reader_takes_each_field_on_its_own():
    good = {"format": "oomguard-state", "version": 1, "pid": 77, "start_ticks": 5, "t": 1.0,
            "interval": 2.0, "sampling": True, "rss": 10, "limit": 20,
            "limit_source": "cgroup v1", "gpus": [{"index": 1, "used": 3}], "oom_kills": 0,
            "oom_kills_file": "/sys/fs/cgroup/memory/memory.oom_control", "cell_peak": 9,
            "cells": {"ok": 1, "error": 2, "blocked": 3, "interrupted": 4},
            "watchdog_interrupts": 5, "risky_cells": 6}
    state = parse_state(json.dumps(good).encode())
    assert (state.pid, state.rss, state.cells["blocked"], state.gpus) == (77, 10, 3, ((1, 3),))
    bad = dict(good, rss=-1, limit=True, limit_source="a user's text", cell_peak="9",
               gpus=[{"index": 99, "used": 1}, {"index": 0, "used": None}, "x",
                     {"index": 2, "used": 5}, {"index": 2, "used": 6}],
               cells={"ok": 1.5, "error": 2}, watchdog_interrupts=2 ** 64, interval=-1,
               sampling="yes", oom_kills_file=7)
    state = parse_state(json.dumps(bad).encode())
    assert (state.rss, state.limit, state.cell_peak) == (None, None, None)
    assert state.limit_source == "unknown"  # never a label value from the file
    assert state.gpus == ((2, 5),)
    assert state.cells == {"ok": None, "error": 2, "blocked": None, "interrupted": None}
    assert (state.watchdog_interrupts, state.interval, state.sampling) == (None, 1.0, False)
    assert state.oom_kills_file is None and state.risky_cells == 6
    for whole in (b"", b"not json", b"[]", json.dumps(dict(good, version=2)).encode(),
                  json.dumps(dict(good, format="x")).encode(),
                  json.dumps(dict(good, pid=0)).encode(), json.dumps(dict(good, pid="7")).encode(),
                  json.dumps(dict(good, rss="x" * MAX_BYTES)).encode(), b"\xff\xfe"):
        assert parse_state(whole) is None


def test_tally_counts_from_record_objects_and_findings_of_any_shape():
    finding = SimpleNamespace(risky=True)
    tally = Tally()
    tally.cell_recorded(record("blocked", findings=[finding]))
    tally.cell_recorded(record("ok", peak=None))
    snap = tally.snapshot()
    assert snap["cells"]["blocked"] == 1 and snap["risky_cells"] == 1
    assert snap["cell_peak"] is None  # the last cell's, even when not measured
    assert tally.changes == 2


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_real_kernel_writes_beside_its_connection_file_and_says_when_it_exits(runtime_dir):
    # A runtime directory like Jupyter's (jupyter_client alone puts it in /tmp: no file).
    session = KernelSession(runtime_dir.parent, runtime_dir / f"{STEM}.json")
    try:
        session.execute("import oomguard; oomguard.enable(summary='off', interval=0.2)")
        pid = session.evaluate("__import__('os').getpid()")
        connection_file = session.km.connection_file
        stem = os.path.basename(connection_file)[:-len(".json")]
        path = os.path.join(os.path.dirname(connection_file), state_file_name(stem, pid))
        session.run("x = 1")
        session.run("1/0")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = parse_state(open(path, "rb").read()) if os.path.exists(path) else None
            if state is not None and state.cells["error"] == 1:
                break
            time.sleep(0.1)
        assert state.pid == pid and state.sampling and not state.exited
        assert state.cells == {"ok": 1, "error": 1, "blocked": 0, "interrupted": 0}
        assert state.rss and state.limit and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert session.evaluate("oomguard.cells()[-1].ram_peak") == state.cell_peak
        session.km.shutdown_kernel(now=False)  # a shutdown_request: it exits normally
    finally:
        session.shutdown()
    state = parse_state(open(path, "rb").read())
    assert state.exited and not state.sampling and state.cells["ok"] == 1
    os.unlink(path)
