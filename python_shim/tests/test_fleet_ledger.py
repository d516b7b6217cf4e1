"""The server side of the fleet metrics (serverext/): the ledger's rules across a kernel's
processes (restarts, deaths, OOM kills, shutdowns) and the collector's exposition, with
state files for real processes (children of this test that live, exit or stay zombies)."""
import os
import subprocess
import sys
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleet_harness import KernelList, write_state as harness_write_state
from oomguard.serverext import ledger as ledger_module
from oomguard.serverext.ledger import Kernel, Ledger
from oomguard.serverext.metrics import FAMILIES, OomguardMetrics
from oomguard.serverext.reading import read_oom_kills_file
from oomguard.statefile import process_identity

KERNEL_ID = "3f0c5a52-9d1e-4c07-8a43-1b2d3e4f5a6b"
STEM = f"kernel-{KERNEL_ID}"
OOM_FILE = "/sys/fs/cgroup/memory/k/memory.oom_control"  # write_state's default


class Process:
    """A real child process standing in for a kernel process."""

    def __init__(self):
        self.popen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        self.pid = self.popen.pid
        for _ in range(100):
            identity = process_identity(self.pid)
            if identity is not None:
                break
            time.sleep(0.01)
        self.start_ticks = identity[1]

    def end(self, reap=True):
        self.popen.kill()
        if reap:
            self.popen.wait()
            return
        for _ in range(500):  # a zombie once the signal is taken, until someone reaps it
            if process_identity(self.pid)[0] == "Z":
                return
            time.sleep(0.01)


@pytest.fixture
def processes():
    started = []

    def start():
        process = Process()
        started.append(process)
        return process
    yield start
    for process in started:
        process.popen.kill()
        process.popen.wait()


@pytest.fixture
def runtime_dir(tmp_path):
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def oom_counts(monkeypatch):
    """The OOM counts the ledger reads 'afresh' from cgroup files: {path: count}."""
    counts = {}
    monkeypatch.setattr(ledger_module, "read_oom_kills_file", counts.get)
    return counts


def write_state(directory, process, stem=STEM, **fields):
    fields.setdefault("start_ticks", process.start_ticks)
    return harness_write_state(directory, stem, process.pid, **fields)


def kernel(directory, kernel_id=KERNEL_ID, stem=STEM):
    return Kernel(kernel_id, str(directory), stem)


def test_a_kernel_without_state_files_has_no_book(runtime_dir):
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.books == {} and ledger.listed() == []


def test_a_live_process_gives_gauges_and_counts(runtime_dir, processes):
    process = processes()
    write_state(runtime_dir, process, cells={"ok": 3, "error": 1, "blocked": 0,
                                             "interrupted": 2},
                watchdog_interrupts=2, risky_cells=1)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    [book] = ledger.listed()
    assert book.gauges(time.time()).rss == 100
    assert book.counters() == {"ok": 3, "error": 1, "blocked": 0, "interrupted": 2,
                               "watchdog_interrupts": 2, "risky_cells": 1}
    assert book.oom_kills == 0


def test_stale_or_stopped_states_keep_counts_but_lose_gauges(runtime_dir, processes):
    process = processes()
    path = write_state(runtime_dir, process, t=time.time() - 31, cells={"ok": 1})
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    [book] = ledger.listed()
    assert book.gauges(time.time()) is None and book.counters()["ok"] == 1
    # A slow sampler gets five of its intervals before its figures count as stale.
    write_state(runtime_dir, process, t=time.time() - 31, interval=10.0)
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert book.gauges(time.time()) is not None
    write_state(runtime_dir, process, sampling=False)
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert book.gauges(time.time()) is None and path.exists()


def test_a_restart_adds_the_ended_process_to_the_counts(runtime_dir, processes, oom_counts):
    first = processes()
    path = write_state(runtime_dir, first, cells={"ok": 5, "error": 1, "blocked": 1,
                                                  "interrupted": 0}, risky_cells=1)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    [book] = ledger.listed()
    first.end()
    oom_counts[OOM_FILE] = 0  # the count did not rise: a restart or a crash, not an OOM kill
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert not path.exists()  # taken in, then removed
    assert book.live is None and book.gauges(time.time()) is None
    assert book.counters()["ok"] == 5 and book.oom_kills == 0
    second = processes()
    write_state(runtime_dir, second, cells={"ok": 2, "error": 0, "blocked": 0,
                                            "interrupted": 0})
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert book.counters()["ok"] == 7 and book.counters()["risky_cells"] == 1
    assert book.gauges(time.time()).rss == 100


def test_a_death_with_the_oom_count_risen_is_an_oom_kill_judged_once(runtime_dir, processes,
                                                                      oom_counts):
    first = processes()
    write_state(runtime_dir, first, oom_kills=2)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    first.end(reap=False)  # a zombie until its manager reaps it: already dead to us
    oom_counts[OOM_FILE] = 3
    ledger.refresh([kernel(runtime_dir)], time.time())
    [book] = ledger.listed()
    assert book.oom_kills == 1
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert book.oom_kills == 1
    # Its successor is killed too, having seen the count at 3: judged on its own.
    second = processes()
    write_state(runtime_dir, second, oom_kills=3)
    ledger.refresh([kernel(runtime_dir)], time.time())
    second.end()
    oom_counts[OOM_FILE] = 4
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert book.oom_kills == 2


def test_the_successors_count_settles_it_when_the_file_cannot_be_read(runtime_dir, processes,
                                                                       oom_counts):
    first = processes()
    write_state(runtime_dir, first, oom_kills=0)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    first.end()
    second = processes()
    write_state(runtime_dir, second, oom_kills=1)  # same cgroup file, count risen
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].oom_kills == 1


def test_a_normal_exit_is_never_an_oom_kill(runtime_dir, processes, oom_counts):
    first = processes()
    write_state(runtime_dir, first, oom_kills=0)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    write_state(runtime_dir, first, oom_kills=0, exited=True, sampling=False)
    first.end()
    oom_counts[OOM_FILE] = 1  # another process of the cgroup was killed meanwhile
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].oom_kills == 0


def test_no_counter_no_oom_kill(runtime_dir, processes, oom_counts):
    first = processes()
    write_state(runtime_dir, first, oom_kills=None, oom_kills_file=None)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    first.end()
    oom_counts[OOM_FILE] = 9
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].oom_kills == 0


def test_a_reused_pid_is_not_the_process_that_wrote_the_file(runtime_dir, processes):
    process = processes()
    write_state(runtime_dir, process, start_ticks=process.start_ticks - 1)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    [book] = ledger.listed()
    assert book.live is None and book.counters()["ok"] == 0


def test_a_shut_down_kernel_loses_its_series_but_keeps_an_oom_count_a_while(
        runtime_dir, processes, oom_counts):
    quiet, killed = processes(), processes()
    # (Both in one cgroup: "quiet" exits normally, and says so, after the other's OOM kill.)
    write_state(runtime_dir, quiet, stem="kernel-quiet", exited=True)
    write_state(runtime_dir, killed, oom_kills=0)
    ledger = Ledger(oom_kills_retention=60)
    both = [kernel(runtime_dir), kernel(runtime_dir, "quiet", "kernel-quiet")]
    now = time.time()
    ledger.refresh(both, now)
    assert len(ledger.listed()) == 2
    # The OOM killer ends one, and then both are shut down before the next scrape.
    killed.end()
    oom_counts[OOM_FILE] = 1
    ledger.refresh([], now + 1)  # "quiet" still runs (shutting down): nothing shown
    assert ledger.listed() == []
    assert [(b.kernel_id, b.oom_kills) for b in ledger.gone(now + 1)] == [(KERNEL_ID, 1)]
    quiet.end()
    ledger.refresh([], now + 2)
    assert "quiet" not in ledger.books
    assert os.listdir(runtime_dir) == []
    assert [b.kernel_id for b in ledger.gone(now + 60)] == [KERNEL_ID]
    ledger.refresh([], now + 62)
    assert ledger.gone(now + 62) == [] and ledger.books == {}


def test_a_file_taken_in_and_written_again_is_not_counted_twice(runtime_dir, processes,
                                                                oom_counts):
    first = processes()
    write_state(runtime_dir, first, cells={"ok": 4})
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    first.end()
    ledger.refresh([kernel(runtime_dir)], time.time())
    write_state(runtime_dir, first, cells={"ok": 4})  # as if it were written once more
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].counters()["ok"] == 4


def test_links_and_other_users_files_are_not_read(runtime_dir, processes, tmp_path):
    process = processes()
    real = write_state(tmp_path, process)
    os.symlink(real, runtime_dir / real.name)
    ledger = Ledger()
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].live is None
    os.unlink(runtime_dir / real.name)
    own = write_state(runtime_dir, process)
    os.chown(own, 12345, 12345)
    ledger.refresh([kernel(runtime_dir)], time.time())
    assert ledger.listed()[0].live is None


def test_oom_counts_are_read_only_from_cgroup_files():
    for path in ("/etc/passwd", "/sys/fs/cgroup/../../etc/memory.events",
                 "/sys/fs/cgroup/memory/memory.stat", "relative/memory.events", None, 5):
        assert read_oom_kills_file(path) is None
    own = f"/proc/{os.getpid()}/cgroup"
    try:
        line = next(line for line in open(own).read().splitlines()
                    if ":memory:" in line or line.startswith("0::"))
    except StopIteration:
        pytest.skip("no memory cgroup here")
    if line.startswith("0::"):
        path = f"/sys/fs/cgroup{line[3:].rstrip('/')}/memory.events"
    else:
        path = f"/sys/fs/cgroup/memory{line.split(':', 2)[2].rstrip('/')}/memory.oom_control"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not here")
    assert isinstance(read_oom_kills_file(path), int)


def scrape(registry):
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for sample in family.samples}


def test_the_collector_exposes_every_family_with_bounded_labels(runtime_dir, processes):
    process = processes()
    write_state(runtime_dir, process, rss=123, limit=456, limit_source="cgroup v2",
                cell_peak=789, gpus=[{"index": 0, "used": 11}, {"index": 1, "used": 22}],
                cells={"ok": 1, "error": 2, "blocked": 3, "interrupted": 4},
                watchdog_interrupts=5, risky_cells=6)
    manager = KernelList({KERNEL_ID: str(runtime_dir / f"{STEM}.json"),
                                    "no-oomguard": str(runtime_dir / "kernel-other.json")})
    registry = CollectorRegistry()
    metrics = OomguardMetrics(manager)
    metrics.register(registry)
    samples = scrape(registry)
    k = ("kernel_id", KERNEL_ID)
    assert samples[("oomguard_kernel_rss_bytes", (k,))] == 123
    assert samples[("oomguard_kernel_limit_bytes", (k, ("source", "cgroup v2")))] == 456
    assert samples[("oomguard_kernel_cell_peak_bytes", (k,))] == 789
    for value, status in enumerate(("ok", "error", "blocked", "interrupted"), start=1):
        assert samples[("oomguard_cells_total", (k, ("status", status)))] == value
    assert samples[("oomguard_watchdog_interrupts_total", (k,))] == 5
    assert samples[("oomguard_predicted_risky_cells_total", (k,))] == 6
    assert samples[("oomguard_oom_kills_total", (k,))] == 0
    assert samples[("oomguard_gpu_used_bytes", (("gpu", "0"), k))] == 11
    assert samples[("oomguard_gpu_used_bytes", (("gpu", "1"), k))] == 22
    assert {name for name, _ in samples} == {
        name + ("_total" if kind == "counter" else "") for name, kind, _, _ in FAMILIES}
    assert all(dict(labels)["kernel_id"] == KERNEL_ID for _, labels in samples)
    metrics.unregister()
    assert scrape(registry) == {}


def test_a_failing_manager_costs_the_scrape_nothing_but_our_series(caplog):
    class Broken:
        def list_kernel_ids(self):
            raise RuntimeError("boom")
    registry = CollectorRegistry()
    OomguardMetrics(Broken()).register(registry)
    assert scrape(registry) == {} and scrape(registry) == {}
    assert len([r for r in caplog.records if "could not be collected" in r.getMessage()]) == 1
