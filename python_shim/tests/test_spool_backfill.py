"""After a kernel dies, the next one serves what the dead one spooled (backfill.py):
end to end with two real kernels sharing a spool directory, and the thinning alone."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kernel_session import KernelSession
from oomguard import backfill, protocol
from oomguard.records import CellRecord
from oomguard.spool import Spool

MiB = 1 << 20
OPEN = {"v": 1, "type": "open", "client": "pytest"}


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    directory = tmp_path / "spool"
    monkeypatch.setenv("OOMGUARD_SPOOL_DIR", str(directory))  # both kernels inherit it
    return directory


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_new_kernel_sends_what_the_killed_one_spooled(spool_dir, tmp_path):
    first = KernelSession(tmp_path / "k1")
    try:
        first.execute("import oomguard; oomguard.enable(interval=0.2, summary='off')")
        pid = first.evaluate("__import__('os').getpid()")
        comm = first.open_comm(OPEN)
        first.wait_comm(comm, "sample", count=3)
        # What the browser last received before it stopped listening.
        since = first.wait_comm(comm, "sample")[-1]["t"]
        first.run("small = 1", metadata={"cellId": "quick"})
        # A cell that never ends: the kernel is killed under it, the way the OOM killer does.
        first.kc.execute("hoard = b'\\x01' * (200 << 20)\nimport time\ntime.sleep(60)")
        time.sleep(1.5)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
    finally:
        first.shutdown()

    second = KernelSession(tmp_path / "k2")
    try:
        second.execute("import oomguard; oomguard.enable(interval=0.5, summary='off')")
        comm = second.open_comm(OPEN)
        hello = second.wait_comm(comm, "hello")[0]
        assert hello["pid"] != pid
        assert hello["oom_kills"] is None or hello["oom_kills"] >= 0
        since_mark = second.mark()
        second.comm_send(comm, {"v": 1, "type": "spool", "pid": pid, "since": since})
        answer = second.wait_comm(comm, "spool", since=since_mark, timeout=20)[0]
    finally:
        second.shutdown()

    assert answer["pid"] == pid and answer["note"] is None and answer["truncated"] is False
    samples = answer["samples"]
    times = [s["t"] for s in samples]
    assert times and min(times) > since and times == sorted(times)
    assert killed_at - times[-1] < 1.0  # the last reading is from just before the kill
    assert "v" not in samples[-1] and "oom_kills" in samples[-1]
    # The killed cell was running, holding its 200 MiB, in the spool's last reading.
    assert samples[-1]["running_cell"] is not None and samples[-1]["rss"] > 200 * MiB
    assert [c["cell_id"] for c in answer["cells"]] == ["quick"]


@pytest.mark.kernel
@pytest.mark.timeout(60)
def test_an_unknown_pid_gets_a_plain_note(spool_dir, tmp_path):
    session = KernelSession(tmp_path / "k")
    try:
        session.execute("import oomguard; oomguard.enable(summary='off')")
        comm = session.open_comm(OPEN)
        session.wait_comm(comm, "hello")
        mark = session.mark()
        session.comm_send(comm, {"v": 1, "type": "spool", "pid": 999_999_999, "since": None})
        answer = session.wait_comm(comm, "spool", since=mark, timeout=20)[0]
    finally:
        session.shutdown()
    assert answer["samples"] == [] and answer["cells"] == []
    assert "No spool of kernel 999999999" in answer["note"]


def _cell(count, cell_id, start, duration):
    return CellRecord(execution_count=count, cell_id=cell_id, start=start, duration=duration,
                      ram_before=1, ram_after=2, ram_peak=3)


def _spool_with(directory, count):
    spool = Spool(directory=directory, filename="oomguard-4242-20260101T000000Z.jsonl")
    for i in range(count):
        used = 5000 if i == 123 else i % 7
        spool.write_sample({"t": 1000.0 + i, "rss": used, "used": used, "notes": []})
    spool.write_cell(_cell(1, "a", 1000.0, 2.0))
    spool.close()


def test_thinning_keeps_the_highest_of_each_stretch_and_the_last(tmp_path):
    _spool_with(tmp_path, 1000)
    samples, cells, truncated, note = backfill.records_since(tmp_path, 4242, 1000.5,
                                                             max_samples=50)
    assert truncated and note is None and len(samples) == 50
    times = [s["t"] for s in samples]
    assert times == sorted(times) and times[0] > 1000.5
    assert samples[-1]["t"] == 1999.0  # the death's reading is never thinned away
    assert any(s["used"] == 5000 for s in samples)  # nor the spike
    assert [c["cell_id"] for c in cells] == ["a"]  # ended at 1002, after `since`


def test_only_records_after_since_and_never_another_pids(tmp_path):
    _spool_with(tmp_path, 10)
    samples, cells, truncated, _ = backfill.records_since(tmp_path, 4242, 1005.0)
    assert [s["t"] for s in samples] == [1006.0, 1007.0, 1008.0, 1009.0]
    assert cells == [] and truncated is False
    assert backfill.records_since(tmp_path, 4243, None)[3].startswith("No spool of kernel 4243")


def test_the_asking_kernels_own_spool_is_never_the_answer(tmp_path):
    # In a container every kernel may be pid 1: the dead one's spool is the other file.
    _spool_with(tmp_path, 5)
    own = Spool(directory=tmp_path, filename="oomguard-4242-20260102T000000Z.jsonl")
    own.write_sample({"t": 5000.0, "rss": 1, "notes": []})
    own.close()
    samples, _, _, note = backfill.records_since(tmp_path, 4242, None, exclude=own.path)
    assert note is None and [s["t"] for s in samples] == [1000.0 + i for i in range(5)]


def test_a_long_spool_is_thinned_while_read(tmp_path):
    _spool_with(tmp_path, 1000)
    samples, _, truncated, _ = backfill.records_since(tmp_path, 4242, None, max_samples=40)
    assert truncated and len(samples) == 40
    assert samples[-1]["t"] == 1999.0 and any(s["used"] == 5000 for s in samples)
    assert samples[0]["t"] < 1200  # the whole stretch is covered, not just its end


def _spool_with_cells(directory, count):
    spool = Spool(directory=directory, filename="oomguard-4242-20260101T000000Z.jsonl")
    spool.write_sample({"t": 999.0, "rss": 1, "used": 1, "notes": []})
    for i in range(count):
        spool.write_cell(_cell(i, f"c{i}", 1000.0 + i, 0.5))
    spool.close()


def test_a_spool_from_another_version_is_answered_as_the_protocol_reads_it(tmp_path):
    spool = Spool(directory=tmp_path, filename="oomguard-4242-20260101T000000Z.jsonl")
    spool.write_sample({"t": 1001.0, "rss": "12 GB", "used": -5, "notes": "n"})
    spool.write_sample({"rss": 7})  # no time: nothing to place it by
    old = _cell(1, "old", 1000.0, 2.0).to_dict()
    del old["container_peak"], old["peak_method"]  # an older shim wrote neither
    spool.write_cell(old)
    spool.write_cell(dict(old, cell_id="broken", status="exploded"))
    spool.close()
    samples, cells, _, note = backfill.records_since(tmp_path, 4242, None)
    assert note is None
    assert [(s["t"], s["rss"], s["used"], s["notes"]) for s in samples] == \
        [(1001.0, None, None, [])]
    assert [(c["cell_id"], c["container_peak"], c["peak_method"]) for c in cells] == \
        [("old", None, "sampled")]


def test_the_cell_cap_is_the_callers_and_cutting_says_truncated(tmp_path):
    _spool_with_cells(tmp_path, 30)
    _, cells, truncated, note = backfill.records_since(tmp_path, 4242, None, max_cells=7)
    assert note is None and truncated
    assert [c["cell_id"] for c in cells] == [f"c{i}" for i in range(23, 30)]  # the newest
    _, cells, truncated, _ = backfill.records_since(tmp_path, 4242, None, max_cells=30)
    assert len(cells) == 30 and not truncated
    assert backfill.MAX_CELLS == protocol.MAX_SPOOL_CELLS
    assert backfill.MAX_SAMPLES == protocol.MAX_SPOOL_SAMPLES


def test_spool_requests_are_answered_in_order_by_one_worker(tmp_path):
    _spool_with(tmp_path, 20)
    answers, threads, done = [], set(), threading.Event()

    def reply(message):
        threads.add(threading.get_ident())
        answers.append(message)
        if len(answers) == 5:
            done.set()

    server = backfill.SpoolAnswers(lambda: tmp_path, lambda: None)
    for i in range(5):
        server.answer(4242, 1000.0 + i, reply)
    assert done.wait(20)
    assert [a["since"] for a in answers] == [1000.0 + i for i in range(5)]
    assert [len(a["samples"]) for a in answers] == [19 - i for i in range(5)]
    assert len(threads) == 1 and threading.get_ident() not in threads
    workers = [t for t in threading.enumerate() if t.name == "oomguard-spool-answer"]
    deadline = time.monotonic() + 5
    while workers and time.monotonic() < deadline:  # the worker ends when the queue is empty
        time.sleep(0.02)
        workers = [t for t in threading.enumerate() if t.name == "oomguard-spool-answer"]
    assert workers == []


def test_spool_requests_past_the_queue_are_dropped_not_threaded(tmp_path):
    _spool_with(tmp_path, 5)
    gate, busy, answers = threading.Event(), threading.Event(), []

    def reply(message):
        busy.set()
        gate.wait(10)  # hold the worker so the rest queue up
        answers.append(message)

    server = backfill.SpoolAnswers(lambda: tmp_path, lambda: None)
    before = threading.active_count()
    server.answer(4242, 0.0, reply)
    assert busy.wait(10)  # the worker is answering the first
    for i in range(1, backfill.MAX_QUEUED + 20):
        server.answer(4242, float(i), reply)
    assert threading.active_count() <= before + 1  # one worker, however many requests
    gate.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(answers) < backfill.MAX_QUEUED + 1:
        time.sleep(0.02)
    time.sleep(0.2)
    # The one being answered when the rest arrived, plus a full queue; the others dropped.
    assert [a["since"] for a in answers] == [float(i) for i in range(backfill.MAX_QUEUED + 1)]
