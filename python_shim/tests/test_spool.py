"""The on-disk spool: lines, rotation, damaged files, unwritable places, threads, finding
a dead kernel's spool, surviving SIGKILL, and the command line."""
import errno
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import oomguard
from oomguard.spool import (Spool, SpoolWriter, default_directory, latest_spool, list_spools,
                            prune_spools, read_spool, spool_parts)
from test_export import validate_trace

SHIM = str(Path(oomguard.__file__).resolve().parent.parent)


def sample(i, t=None):
    return {"t": time.time() if t is None else t, "rss": 100 * 2**20 + i, "children_rss": 0,
            "limit": 2**33, "limit_source": "physical", "used": 2**30 + i,
            "free": 2**33 - 2**30 - i, "host_total": 2**33, "host_available": 2**32,
            "notes": [], "gpus": []}


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_lines_header_and_reading_back(tmp_path):
    spool = Spool(tmp_path, session={"interval": 0.5})
    assert spool.path is None and not any(tmp_path.iterdir())  # nothing before use
    sent = [sample(i, t=1000.0 + i) for i in range(5)]
    cell = {"execution_count": 1, "start": 1001.5, "duration": 0.25, "status": "ok",
            "ram_before": 1, "ram_after": 2, "ram_peak": 3, "gpu": [], "findings": []}
    for s in sent[:3]:
        spool.write_sample(s)
    spool.write_cell(cell)
    for s in sent[3:]:
        spool.write_sample({"v": 1, "type": "sample", **s})  # whole messages too
    spool.close()
    spool.write_sample(sample(99))  # after close: ignored, no error

    assert re.fullmatch(rf"oomguard-{os.getpid()}-\d{{8}}T\d{{6}}Z\.jsonl", spool.path.name)
    assert oct(spool.path.stat().st_mode & 0o777) == oct(0o600)
    kinds = [line["kind"] for line in lines_of(spool.path)]
    assert kinds == ["session", "sample", "sample", "sample", "cell", "sample", "sample"]

    samples, cells, session = read_spool(spool.path)
    assert samples == sent and cells == [cell]
    assert session["pid"] == os.getpid() and session["interval"] == 0.5
    assert session["oomguard"] and session["python"] and session["hostname"]
    assert session["format"] == "oomguard-spool" and session["start"] == spool.start
    assert session["parts"] == [str(spool.path)] and session["skipped_lines"] == 0
    assert {k: session[k] for k in spool.session()} == spool.session()


def test_default_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OOMGUARD_SPOOL_DIR", str(tmp_path / "mine"))
    assert default_directory() == tmp_path / "mine"
    monkeypatch.delenv("OOMGUARD_SPOOL_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_directory() == tmp_path / "cache" / "oomguard" / "spool"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_directory() == tmp_path / "home" / ".cache" / "oomguard" / "spool"
    spool = Spool()
    spool.write_sample(sample(0))
    assert spool.path.parent == tmp_path / "home" / ".cache" / "oomguard" / "spool"


@pytest.mark.parametrize("keep", [1, 3])
def test_rotation_bounds_the_files_and_keeps_the_newest(tmp_path, keep):
    max_bytes = 4096
    spool = Spool(tmp_path, max_bytes=max_bytes, keep=keep)
    count = 300  # about 90 KiB of lines: many rotations
    for i in range(count):
        spool.write_sample(sample(i, t=float(i)))
    files = sorted(tmp_path.iterdir())
    assert len(files) == keep
    assert all(f.stat().st_size <= max_bytes for f in files)
    for part in spool_parts(spool.path):
        assert lines_of(part)[0]["kind"] == "session"  # every part describes itself

    samples, _, session = read_spool(tmp_path / (spool.path.name + ".1") if keep > 1
                                     else spool.path)  # any part finds the whole spool
    assert len(session["parts"]) == keep
    times = [s["t"] for s in samples]
    assert times == [float(i) for i in range(count - len(times), count)]  # newest, in order
    assert len(times) > 10 * keep
    assert session["pid"] == os.getpid()


def test_damaged_lines_are_skipped(tmp_path):
    spool = Spool(tmp_path)
    for i in range(3):
        spool.write_sample(sample(i, t=float(i)))
    spool.close()
    with open(spool.path, "ab") as f:
        f.write(b"\xff\xfe not json\n")
        f.write(b'"a string"\n')
        f.write(json.dumps({"kind": "sample", **sample(3, t=3.0)}).encode() + b"\n")
        f.write(b'{"kind": "sample", "t": 4.0, "rss": 12')  # cut short by a kill
    samples, _, session = read_spool(tmp_path)  # a directory: its latest spool
    assert [s["t"] for s in samples] == [0.0, 1.0, 2.0, 3.0]
    assert session["skipped_lines"] == 3


def test_unwritable_places_turn_the_spool_off_with_a_note(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="oomguard")
    blocker = tmp_path / "a file"
    blocker.write_text("")
    spool = Spool(blocker / "spool")  # its "directory" is inside a regular file
    assert spool.enabled and not spool.open()
    assert not spool.enabled and str(blocker) in spool.note
    for i in range(50):
        spool.write_sample(sample(i))
        spool.write_cell({"execution_count": i})
    spool.close()
    assert [r.message for r in caplog.records] == [spool.note]  # told once


def test_a_full_disk_turns_the_spool_off(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="oomguard")
    spool = Spool(tmp_path, filename="full.jsonl")
    real_write = os.write

    def full(fd, data):  # the spool's file on a full disk: every write fails
        if fd == spool._fd:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    for i in range(20):
        spool.write_sample(sample(i))
    assert not spool.enabled and "No space left on device" in spool.note
    assert len(caplog.records) == 1


def test_a_link_planted_at_the_spools_name_is_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    spools = tmp_path / "spools"
    spools.mkdir(mode=0o700)
    name = "oomguard-4242-20260101T000000Z.jsonl"
    (spools / name).symlink_to(victim)
    spool = Spool(spools, filename=name)
    spool.write_sample(sample(0))
    assert not spool.enabled and "is there already" in spool.note
    assert victim.read_text() == "precious\n"
    # Nor when a dead kernel's spool is read back (by the CLI or for a new kernel).
    with pytest.raises(OSError):
        read_spool(spools / name)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_directory_anyone_may_write_in_is_refused_with_a_note(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    spool = Spool(shared)
    spool.write_sample(sample(0))
    assert not spool.enabled and not any(shared.iterdir())
    assert "anyone may write in" in spool.note and str(shared) in spool.note
    assert "kept in memory only" in spool.note


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                    reason="making a directory another user's needs root")
def test_another_users_directory_is_refused_with_a_note(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    spool = Spool(theirs)
    spool.write_sample(sample(0))
    assert not spool.enabled and not any(theirs.iterdir())
    assert "belongs to another user (uid 65534)" in spool.note


def test_the_directory_is_kept_under_its_total(tmp_path):
    # Old kernels' spools go, oldest first, once the directory holds more than its cap;
    # this kernel's own parts are sized to fit in it.
    old = [fake_spool(tmp_path, 100 + i, f"2026010{i}T000000Z", age_s=3600 * (9 - i))
           for i in range(5)]
    for base in old:
        when = base.stat().st_mtime
        base.write_bytes(b"x" * 10_000)
        os.utime(base, (when, when))
    spool = Spool(tmp_path, max_bytes=4096, keep=3, max_total_bytes=30_000)
    for i in range(100):
        spool.write_sample(sample(i, t=float(i)))
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 30_000
    assert [p.exists() for p in old] == [False, False, False, False, True]  # oldest first
    assert len(spool_parts(spool.path)) == 3
    small = Spool(tmp_path / "small", max_bytes=4096, keep=3, max_total_bytes=5000)
    assert small.keep == 1 and small.max_bytes == 4096


def test_the_writer_thread_takes_the_disk_off_the_callers_path(tmp_path, monkeypatch):
    # A stalled disk (a network home): handing a line over returns at once; the line is
    # written when the disk is back, and closing waits only a little for it.
    spool = Spool(tmp_path)
    stalled, entered = threading.Event(), threading.Event()
    real_write = Spool._write_locked

    def slow(self, data):
        entered.set()
        stalled.wait(10)
        real_write(self, data)

    monkeypatch.setattr(Spool, "_write_locked", slow)
    writer = SpoolWriter(spool)
    started = time.perf_counter()
    writer.write_sample(sample(0, t=1.0))
    assert entered.wait(5)  # the writer thread is now stuck on the disk
    for i in range(1, 50):
        writer.write_sample(sample(i, t=1.0 + i))
        writer.write_cell({"execution_count": i, "start": 1.0 + i, "duration": 0.1})
    assert time.perf_counter() - started < 0.5
    assert not writer.flush(timeout=0.2)  # still stalled
    assert [t.name for t in threading.enumerate()].count("oomguard-spool") == 1
    stalled.set()
    assert writer.flush(timeout=10)
    writer.close()
    samples, cells, _ = read_spool(spool.path)
    assert [s["t"] for s in samples] == [1.0 + i for i in range(50)] and len(cells) == 49


def test_the_writer_drops_past_its_bound_and_says_so(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    stalled = threading.Event()
    monkeypatch.setattr(Spool, "_write_locked", lambda self, data: stalled.wait(10))
    monkeypatch.setattr(SpoolWriter, "MAX_QUEUED", 5)
    writer = SpoolWriter(spool)
    for i in range(20):
        writer.write_sample(sample(i))
    assert writer.dropped >= 14 and "not keeping up" in writer.note
    stalled.set()
    writer.close(timeout=5)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only directories anyway")
def test_a_read_only_directory_turns_the_spool_off(tmp_path):
    tmp_path.chmod(0o500)
    try:
        spool = Spool(tmp_path)
        spool.write_sample(sample(0))
        assert not spool.enabled and "Permission denied" in spool.note
    finally:
        tmp_path.chmod(0o700)


def test_threads_never_interleave_lines(tmp_path):
    spool = Spool(tmp_path, max_bytes=64 * 1024, keep=50)
    per_thread = 400

    def write(thread):
        for i in range(per_thread):
            spool.write_sample({"t": float(i), "thread": thread, "notes": ["x" * (i % 50)]})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    samples, _, session = read_spool(spool.path)
    assert session["skipped_lines"] == 0 and len(session["parts"]) > 1
    assert len(samples) == 4 * per_thread
    for n in range(4):
        assert [s["t"] for s in samples if s["thread"] == n] == [float(i) for i in
                                                                 range(per_thread)]


def fake_spool(directory, pid, stamp, age_s, parts=1):
    base = directory / f"oomguard-{pid}-{stamp}.jsonl"
    for number in range(parts):
        path = base if number == 0 else base.with_name(f"{base.name}.{number}")
        path.write_text(json.dumps({"kind": "session", "pid": pid}) + "\n")
        when = time.time() - age_s - number  # older parts are older
        os.utime(path, (when, when))
    return base


def other_pid(pid: int) -> int:
    """A pid for a fake spool that is not this process's (pids are small on a fresh
    machine: the test process itself can be 333)."""
    return pid + (1 << 21) if pid == os.getpid() else pid


def test_finding_and_pruning_spools(tmp_path):
    old = fake_spool(tmp_path, other_pid(111), "20240101T000000Z", age_s=3600, parts=3)
    newer = fake_spool(tmp_path, other_pid(222), "20240101T010000Z", age_s=600)
    mine = fake_spool(tmp_path, os.getpid(), "20240101T020000Z", age_s=60)
    (tmp_path / "unrelated.txt").write_text("not a spool")
    assert [s["path"] for s in list_spools(tmp_path)] == [mine, newer, old]
    assert list_spools(tmp_path)[2]["bytes"] == 3 * old.stat().st_size
    assert latest_spool(tmp_path) == newer  # a new kernel looks for the one that died
    assert latest_spool(tmp_path, exclude_current=False) == mine
    assert latest_spool(tmp_path, pid=other_pid(111)) == old
    assert latest_spool(tmp_path, pid=other_pid(333)) is None
    assert latest_spool(tmp_path / "missing") is None
    assert [Path(p).name for p in read_spool(old.with_name(old.name + ".2"))[2]["parts"]] == [
        old.name + ".2", old.name + ".1", old.name]

    for n in range(25):
        fake_spool(tmp_path, other_pid(1000 + n), "20240102T000000Z", age_s=1000 + n)
    ancient = fake_spool(tmp_path, other_pid(5), "20230101T000000Z", age_s=30 * 24 * 3600)
    recent = fake_spool(tmp_path, other_pid(6), "20240103T000000Z", age_s=10)
    deleted = prune_spools(tmp_path, protect=old, keep_sessions=20)
    left = {s["path"] for s in list_spools(tmp_path)}
    assert old in left and recent in left and ancient not in left
    assert len(left) == 21  # the newest 20, plus the protected one
    assert ancient in deleted and (tmp_path / "unrelated.txt").exists()


def validate_spool_trace(spool_path, out):
    samples, cells, session = read_spool(spool_path)
    from oomguard.exporters import export
    export(out, "trace", samples, cells, session=session)
    with open(out, encoding="utf-8") as f:
        return samples, validate_trace(json.load(f))


CHILD = """
import sys, time
from oomguard.spool import Spool
spool = Spool(sys.argv[1])
i = 0
while True:
    spool.write_sample({"t": time.time(), "rss": 100 * 2**20 + i * 4096, "used": 2**30,
                        "limit": 2**33, "notes": []})
    if i == 0:
        print("spooling", flush=True)
    i += 1
    time.sleep(0.05)
"""


def test_the_spool_survives_sigkill(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (SHIM, os.environ.get("PYTHONPATH")) if p))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "spooling"
        time.sleep(1.0)
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)  # what the OOM killer sends: no chance to clean up
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()

    samples, events = validate_spool_trace(tmp_path, tmp_path / "after-kill.trace.json")
    assert len(samples) >= 8  # about 20 in the second it ran
    assert killed_at - samples[-1]["t"] < 0.25  # the last sample was 50 ms before the kill
    assert latest_spool(tmp_path, pid=child.pid) is not None
    counters = [e for e in events if e["ph"] == "C" and e["name"] == "kernel RSS"]
    # Microseconds rounded half up, as the exports write them (Python's round() takes a
    # tie to the even neighbour: at 1.8e15 µs a double's steps are 0.25, so ties happen).
    assert counters[-1]["ts"] == math.floor(samples[-1]["t"] * 1e6 + 0.5)


def test_the_command_line_exports_a_spool(tmp_path):
    spool = Spool(tmp_path / "spools")
    for i in range(10):
        spool.write_sample(sample(i, t=1000.0 + i))
    spool.write_cell({"execution_count": 1, "start": 1001.0, "duration": 2.0, "status": "ok"})
    spool.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (SHIM, os.environ.get("PYTHONPATH")) if p))
    out = tmp_path / "out.trace.json"
    done = subprocess.run([sys.executable, "-m", "oomguard", "export", str(spool.path),
                           "-f", "trace", "-o", str(out)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "10 samples, 1 cells" in done.stdout and str(out) in done.stdout
    with open(out, encoding="utf-8") as f:
        events = validate_trace(json.load(f))
    assert [e["name"] for e in events if e["ph"] == "X"] == ["cell [1]"]

    # A directory finds its latest spool; csv writes two files next to the output name.
    done = subprocess.run([sys.executable, "-m", "oomguard", "export", str(tmp_path / "spools"),
                           "-f", "csv", "-o", str(tmp_path / "mem.csv")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mem.csv").exists() and (tmp_path / "mem.cells.csv").exists()

    listed = subprocess.run([sys.executable, "-m", "oomguard", "list", "--dir",
                             str(tmp_path / "spools")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert str(spool.path) in listed.stdout
    missing = subprocess.run([sys.executable, "-m", "oomguard", "export",
                              str(tmp_path / "nothing-here")], env=env, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 1 and "no oomguard spool" in missing.stderr


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_stalled_spool_disk_never_stalls_a_cell(tmp_path):
    # Every write to the spool takes 2 s (a network home directory that hangs): cells
    # must not wait for it (the record is handed to the spool's own thread).
    from kernel_session import KernelSession
    session = KernelSession(tmp_path / "spec")
    try:
        session.execute(
            "import oomguard, time as _time\n"
            f"oomguard.enable(summary='off', spool={str(tmp_path / 'spools')!r})\n"
            "from oomguard.spool import Spool as _Spool\n"
            "_real_write = _Spool._write_locked\n"
            "def _stalled(self, data):\n"
            "    _time.sleep(2)\n"
            "    _real_write(self, data)\n"
            "_Spool._write_locked = _stalled\n", silent=True)
        for _ in range(3):
            started = time.monotonic()
            reply, _ = session.run("x = 1")
            assert reply["status"] == "ok"
            assert time.monotonic() - started < 1.0
        assert session.evaluate("oomguard.cells()[-1].status") == "ok"
    finally:
        session.shutdown()
