"""What recording a Dask cluster per cell (clusters/) costs a cell, side by side.

    .venv/bin/python benchmarks/clusters.py   # rewrites its section of docs/benchmarks.md

One kernel with oomguard at its defaults (sampling every second, summary off), a
LocalCluster of 2 worker processes, and a scheduler of its own process that is frozen
(SIGSTOP) for the whole run. The namespace holds, in turn, no Client, the live
cluster's Client, or the frozen scheduler's Client (the others wait in a dict, where the
watch does not look), in interleaved rounds so machine noise hits all three alike. For
each: the round trip of an empty cell, the recorded duration of a CPU-bound cell, the
cost of the watch's hooks (`begin`/`end`, timed in the kernel), and the kernel's CPU
while idle (the sampling thread's share; the Client's own loop runs in all three).
"""
from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python_shim" / "tests"))

from cluster_kernel import free_port  # noqa: E402
from kernel import Kernel  # noqa: E402
from sections import write_section  # noqa: E402

HEADING = "## Clusters: cost to a cell"
PHASES = ("no Client", "live cluster", "frozen scheduler")
ROUNDS = 5
EMPTY_CELLS = 12
CPU_CELLS = 3
IDLE_SECONDS = 5
CPU_CELL = "sum(i * i for i in range(2_000_000))"
TICK = os.sysconf("SC_CLK_TCK")

# Times the watch's hooks from inside the kernel, in place of the recorder's calls.
TIME_HOOKS = """
import time as _t
_watch = oomguard._runtime.clusters
_hook_costs = []
class _Timed:
    def begin(self):
        s = _t.perf_counter(); _watch.begin(); _hook_costs.append(_t.perf_counter() - s)
    def end(self, error=None):
        s = _t.perf_counter(); r = _watch.end(error)
        _hook_costs[-1] += _t.perf_counter() - s
        return r
oomguard._runtime.recorder.cluster = _Timed()
# ... and each sample on the watch's thread: its CPU, and its wall time (the call's round
# trip to the scheduler, waiting included).
_tick_costs = []
def _timed_tick(_tick=_watch.tick):
    cpu, wall = _t.thread_time(), _t.perf_counter()
    _tick()
    _tick_costs.append((_t.thread_time() - cpu, _t.perf_counter() - wall))
_watch._thread._take_reading = _timed_tick
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(kernel: Kernel, pid: int, phase: str, results: dict) -> None:
    if phase == "no Client":
        kernel.run("client = None")
    else:
        kernel.run(f"client = clients[{phase!r}]")
    kernel.run("time.sleep(3)")  # adopted, and a frozen scheduler's first call timed out
    kernel.run("_hook_costs.clear(); _tick_costs.clear()")
    trips = [kernel.run("pass")[0] for _ in range(EMPTY_CELLS)]
    hooks = kernel.value("_hook_costs[:]")
    durations = []
    for _ in range(CPU_CELLS):
        kernel.run(CPU_CELL)
        durations.append(kernel.value("oomguard.cells()[-1].duration"))
    notes = kernel.value("(oomguard.cells()[-1].cluster or {}).get('notes', [])")
    before = cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    idle = (cpu_seconds(pid) - before) / IDLE_SECONDS
    ticks = kernel.value("_tick_costs[:]")
    entry = results.setdefault(phase, {"trips": [], "hooks": [], "cpu": [], "idle": [],
                                       "ticks": []})
    entry["ticks"] += ticks
    entry["trips"] += trips
    entry["hooks"] += hooks
    entry["cpu"] += durations
    entry["idle"].append(idle)
    entry["notes"] = notes


def run() -> tuple:
    port = free_port()
    scheduler_dir = tempfile.TemporaryDirectory()  # not /tmp/dask-scratch-space
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "DASK_TEMPORARY_DIRECTORY": scheduler_dir.name})
    kernel = Kernel()
    results: dict = {}
    try:
        kernel.run("import oomguard, os, tempfile, time; oomguard.enable(summary='off')")
        pid = kernel.value("os.getpid()")
        kernel.run(
            "from distributed import Client, LocalCluster\n"
            "import dask\n"
            "scratch = tempfile.TemporaryDirectory()  # not /tmp/dask-scratch-space\n"
            "dask.config.set({'temporary-directory': scratch.name})\n"
            "cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,\n"
            "                       memory_limit=2**30, scheduler_port=0,\n"
            "                       dashboard_address=':0')\n"
            f"clients = {{'live cluster': Client(cluster),\n"
            f"           'frozen scheduler': Client('tcp://127.0.0.1:{port}', timeout=30)}}")
        kernel.run(TIME_HOOKS)
        scheduler.send_signal(signal.SIGSTOP)
        for _ in range(20):
            kernel.run("pass")  # warm up
        for _ in range(ROUNDS):
            for phase in PHASES:
                measure(kernel, pid, phase, results)
        scheduler.kill()
        kernel.run("client = None; clients['live cluster'].close(); cluster.close()\n"
                   "scratch.cleanup()")
        workers = 2
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
        scheduler.wait(10)
        kernel.close()
        scheduler_dir.cleanup()
    return results, workers


def versus(value: float, base: list, entry: dict) -> str:
    """' (1.02×)': `value` against the median of the no-Client phase (not for itself)."""
    return "" if entry["trips"] is base or entry["cpu"] is base else \
        f" ({value / statistics.median(base):.2f}×)"


def tick_text(ticks: list) -> str:
    if not ticks:
        return "—"
    return (f"{us(statistics.median(t[0] for t in ticks))} / "
            f"{statistics.median(t[1] for t in ticks) * 1e3:.1f} ms")


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def section() -> str:
    started = time.time()
    results, workers = run()
    base = results["no Client"]
    lines = [
        HEADING, "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/clusters.py` "
        f"in {time.time() - started:.0f} s on {platform.machine()}, Python "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} CPUs (shared with "
        f"other work: medians over {ROUNDS} interleaved rounds). A LocalCluster of "
        f"{workers} worker processes; oomguard at its defaults (a sample a second).", "",
        "| the namespace holds | empty cell, round trip (median) | CPU-bound cell, recorded "
        "duration (median) | the watch's hooks per cell (median / p90) | a sample on the "
        "watch's thread: its CPU / wall time (medians) | kernel CPU while idle | the "
        "record's notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in PHASES:
        entry = results[phase]
        trip, cpu = statistics.median(entry["trips"]), statistics.median(entry["cpu"])
        hooks = sorted(entry["hooks"])
        lines.append(
            f"| {phase} | {trip * 1e3:.2f} ms{versus(trip, base['trips'], entry)} "
            f"| {cpu * 1e3:.0f} ms{versus(cpu, base['cpu'], entry)} "
            f"| {us(statistics.median(hooks))} / {us(hooks[int(0.9 * (len(hooks) - 1))])} "
            f"| {tick_text(entry['ticks'])} "
            f"| {statistics.median(entry['idle']):.2%} of a core "
            f"| {'; '.join(entry.get('notes') or []) or '—'} |")
    lines += [
        "",
        "On this shared machine the same cell's time varies by about ±15 % from one "
        "phase to the next; read the ratios with that in mind.",
        "",
        "- *Round trip*: `execute` to its reply for `pass`, from the benchmark; "
        f"{EMPTY_CELLS} per phase and round. *Recorded duration*: the CellRecord's "
        f"`duration` of `{CPU_CELL}`, {CPU_CELLS} per phase and round.",
        "- *Hooks*: `ClusterWatch.begin()` plus `end()`, timed with `perf_counter` in the "
        "kernel around the recorder's calls (the rest of the recorder's hooks is the same "
        "in every phase). With no Client in the namespace, `begin` looks over the "
        "namespace once, since distributed is imported and the other two Clients exist "
        "(in a dict); where distributed has no Client at all it does not look "
        "(`dask_engine.clients_exist`), and where distributed is not imported the hooks "
        "return at once.",
        "- *A sample*: the watch's `tick` (finding the Client in the namespace, the "
        "scheduler's `identity` on the Client's loop, bookkeeping), its thread's CPU "
        "(`thread_time`: the Client's loop decoding the answer is not in it) and its wall "
        "time; once a second by default. With no Client, a tick only looks over the "
        "namespace.",
        "- *Idle CPU*: the kernel process's user + system time over "
        f"{IDLE_SECONDS} s with no cell running, from /proc in clock ticks; the live "
        "cluster's scheduler runs inside the kernel (LocalCluster), so that row includes "
        "the scheduler answering.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    text = section()
    write_section(HEADING, text)
    print(text)


if __name__ == "__main__":
    main()
