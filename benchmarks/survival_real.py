"""Survival of a kernel under a real memory limit, against the kernel's own OOM killer.

    OOMGUARD_CGROUP_TAG=me .venv/bin/python benchmarks/survival_real.py [--runs 3]

Each kernel runs in its own cgroup v1 memory group with a 2 GiB limit
(python_shim/tests/real_cgroup.py, made and removed here; root and a writable v1 memory
controller needed). Scenarios are the ways notebooks die of memory, each in the modes
none (oomguard not loaded), watchdog (the default 0.95) and watchdog + cap; oomguard reads
the limit from the cgroup itself. A run *survives* when the group's `oom_kill` count did
not rise, the kernel answers, and a variable defined before the risky cell still holds its
value. Writes its section of docs/benchmarks.md (between the survival-real markers);
`--print` prints it instead (benchmarks/run.py)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python_shim" / "tests"))

from kernel_session import kernel_in_memory_cgroup  # noqa: E402
from oom_killer import (CLEANUP, DATALOADER_GROWS, SCENARIOS, SENTINEL_VALUE,  # noqa: E402
                        SETUP, Watcher, execute_until_done_or_dead)
from real_cgroup import GiB, MiB, unavailable  # noqa: E402

OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- survival-real:start -->"
END = "<!-- survival-real:end -->"
LIMIT = 2 * GiB
HANG = 90  # seconds without an answer: the kernel is taken as lost (and killed)
CHUNKS_MIB = (32, 114, 128, 200)
ITEMS_MIB = (16, 64)

# A row of float32 over 2**18 columns is exactly 1 MiB: a chunk of k rows is k MiB.
ADJACENCY = ("n = 1 << 18\n"
             "rows = []\n"
             "for start in range(0, n, {rows}):\n"
             "    rows.append(torch.zeros({rows}, n))\n"
             "adj = torch.cat(rows)\n")
SCENARIOS_REAL = {
    "accumulate graphs": SCENARIOS["accumulate graphs"],
    "losses with autograd graphs": SCENARIOS["losses with autograd graphs"],
    **{f"dense adjacency, {mib} MiB chunks": ADJACENCY.format(rows=mib) for mib in CHUNKS_MIB},
    **{f"DataLoader workers grow {mib} MiB an item": DATALOADER_GROWS.format(mib=mib)
       for mib in ITEMS_MIB},
    "single giant allocation": SCENARIOS["single giant allocation"],  # 3.0 GiB, one call
}
LOOPS = [name for name in SCENARIOS_REAL if name != "single giant allocation"]
# What one iteration adds, where the code fixes it (MiB); the losses' graphs vary.
STEP_MIB = {"accumulate graphs": 8.25,
            **{f"dense adjacency, {mib} MiB chunks": mib for mib in CHUNKS_MIB},
            **{f"DataLoader workers grow {mib} MiB an item": mib for mib in ITEMS_MIB}}
# The pre-run check is off: only the runtime protections are measured. No `limit=`:
# oomguard reads the cgroup's.
MODES = {
    "none": None,
    "watchdog": "import oomguard\noomguard.enable(summary='off', mode='off', watchdog=0.95, "
                "hard_cap=False)",
    "watchdog + cap": "import oomguard\noomguard.enable(summary='off', mode='off', "
                      "watchdog=0.95, hard_cap=True)",
    # What a user gets from `%load_ext oomguard` or the panel: the pre-run check on (mode
    # auto: a cell whose exact prediction cannot fit is not run), the watchdog at 0.95,
    # no cap.
    "defaults": "import oomguard\noomguard.enable(summary='off')",
}
# Before oom_killer's CLEANUP (which collects and trims): the names these scenarios add,
# and the last traceback, kept by Python (sys.last_traceback) and IPython (for %debug):
# its frames keep an interrupted DataLoader's iterator, so its workers and what they hold
# live on after `del loader`.
CLEAN_MORE = ("import sys\n"
              "sys.last_type = sys.last_value = sys.last_traceback = None\n"
              "get_ipython().InteractiveTB.tb = None\n"
              "for _name in ('loader', 'Hoarder', 'item', 'n', 'start'):\n"
              "    globals().pop(_name, None)\n")


class WorkingSetPeak(Watcher):
    """The group's largest working set (usage less inactive page cache, what the OOM
    killer cannot reclaim) seen every 5 ms while a cell runs. memory.max_usage_in_bytes
    is exact but counts page cache, which the kernel reclaims at the limit."""

    def __init__(self, group):
        super().__init__(poll=0.005, name="working-set-peak")
        self.group, self.peak = group, 0

    def tick(self) -> bool:
        try:
            self.peak = max(self.peak, self.group.working_set())
        except OSError:
            return False
        return True


@dataclass
class Run:
    scenario: str
    mode: str
    oom_kills: int                  # the group's count rose by this much
    kernel_alive: bool
    sentinel_intact: Optional[bool]
    baseline: int                   # working set before the cell
    peak: int                       # largest working set seen during the cell
    max_usage: int                  # memory.max_usage_in_bytes over the cell (cache too)
    ename: Optional[str] = None
    said: str = ""
    seconds: float = 0.0
    hung: bool = False              # no answer in HANG seconds: killed by us, not the OOM killer
    lost_after: bool = False        # answered the cell, then stopped answering
    notes: List[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return (self.oom_kills == 0 and not self.hung and not self.lost_after
                and self.kernel_alive and bool(self.sentinel_intact))

    @property
    def clear(self) -> float:
        """MiB between the cell's peak working set and the limit."""
        return (LIMIT - self.peak) / MiB

    @property
    def victim(self) -> str:
        if self.hung:
            return f"hung {HANG} s"
        if self.lost_after:
            return ("worker, then the kernel stopped answering" if self.oom_kills
                    else "the kernel stopped answering")
        if not self.oom_kills:
            return ""
        return "kernel" if not self.kernel_alive else "worker"


def run_once(session, group, scenario: str, mode: str) -> Run:
    """One scenario in a prepared kernel; the kernel is cleaned up after it, or lost."""
    kernel_pid = session.km.provisioner.pid
    left = [pid for pid in group.pids() if pid != kernel_pid]
    for pid in left:  # what the cleanup could not end: a clean start for this run
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2 if left else 0)
    baseline = group.working_set()
    kills = group.oom_kills()
    group.reset_max_usage()
    started = time.monotonic()
    with WorkingSetPeak(group) as peak:
        reply, said = execute_until_done_or_dead(session, SCENARIOS_REAL[scenario],
                                                 timeout=HANG)
    run = Run(scenario, mode, group.oom_kills() - kills, session.km.is_alive(), None,
              baseline, peak.peak, group.max_usage(), said=said,
              seconds=time.monotonic() - started)
    if reply is None and run.kernel_alive:
        # At the limit the kernel may reclaim the process's own code pages and fault them
        # back in, over and over, instead of killing it: alive, but lost to its user.
        run.hung, run.kernel_alive = True, False
        group.kill_all()
    if left:
        run.notes.append(f"{len(left)} process(es) of the run before killed first")
    if reply is not None:
        run.ename = reply.get("ename")
    stopped = [line for line in said.splitlines() if line.startswith("oomguard:")]
    run.notes += stopped[:1]
    if run.kernel_alive:
        try:
            run.sentinel_intact = session.evaluate("sentinel") == SENTINEL_VALUE
            session.execute(CLEAN_MORE + CLEANUP)
        except Exception as exc:
            # E.g. a DataLoader worker OOM-killed after the cell ended: torch's SIGCHLD
            # handler raises in the kernel's event loop, and the kernel stops answering.
            run.notes.append(f"the kernel stopped answering after the cell "
                             f"({type(exc).__name__}: {str(exc)[:80]})")
            run.lost_after, run.kernel_alive = True, False
            group.kill_all()
    return run


def measure(runs: int, workdir: str, log=print, only: str = "") -> List[Run]:
    """Every scenario (whose name contains `only`) in every mode `runs` times; a fresh
    kernel (and group) after a kill."""
    results: List[Run] = []
    for mode, setup in MODES.items():
        kernel = None
        try:
            for scenario in [name for name in SCENARIOS_REAL if only in name]:
                for _ in range(runs):
                    if kernel is None:
                        kernel = kernel_in_memory_cgroup(tempfile.mkdtemp(dir=workdir), LIMIT,
                                                         purpose="survival")
                        session, group = kernel.__enter__()
                        session.execute(SETUP, timeout=120)
                        if setup:
                            session.execute(setup)
                    run = run_once(session, group, scenario, mode)
                    results.append(run)
                    log(f"{mode:14} {scenario:32} "
                        f"{'survived' if run.survived else 'KILLED ' + run.victim:14} "
                        f"{run.ename or '':18} peak {run.peak / MiB:5.0f} MiB, "
                        f"{run.clear:5.0f} MiB clear, max usage {run.max_usage / MiB:5.0f}, "
                        f"from {run.baseline / MiB:4.0f}, {run.seconds:4.1f} s "
                        + "; ".join(run.notes))
                    if not run.kernel_alive:
                        kernel.__exit__(None, None, None)
                        kernel = None
        finally:
            if kernel is not None:
                kernel.__exit__(None, None, None)
    return results


def _stopped_by(run: Run) -> str:
    if run.ename == "KeyboardInterrupt":
        return "watchdog"
    if run.ename == "InputRejected":
        return "blocked before it ran"
    if run.ename in ("MemoryError", "RuntimeError") and "memory cap" in run.said:
        return "cap"
    return run.ename or "?"


def _cell(found: List[Run]) -> str:
    survived = [r for r in found if r.survived]
    text = f"{len(survived)}/{len(found)}"
    if survived:
        clear = [r.clear for r in survived]
        by = sorted({_stopped_by(r) for r in survived})
        span = (f"{min(clear):.0f}" if round(min(clear)) == round(max(clear))
                else f"{min(clear):.0f}–{max(clear):.0f}")
        text += f" ({' / '.join(by)}; {span} MiB clear)"
    killed = [r for r in found if not r.survived]
    if killed:
        victims = sorted({r.victim or "variable lost" for r in killed})
        text += f"; killed: {' / '.join(victims)}"
    return text


def write(results: List[Run], runs: int, seconds: float) -> str:
    modes, scenarios = list(MODES), list(SCENARIOS_REAL)

    def of(mode, scenario=None):
        return [r for r in results if r.mode == mode and scenario in (None, r.scenario)]

    lines = [
        "## Survival under a real memory limit",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"`benchmarks/survival_real.py` in {seconds:.0f} s on {platform.machine()}, Linux "
        f"{platform.release()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{runs} runs per cell. Each kernel runs in its own cgroup v1 memory group with a "
        f"{LIMIT / GiB:.0f} GiB limit (`python_shim/tests/real_cgroup.py`): the kernel's own "
        "OOM killer acts, and the group's `memory.oom_control` `oom_kill` count says whether "
        "it did. A run *survives* when that count did not rise, the kernel answers, and a "
        "variable defined before the risky cell still holds its value. oomguard reads the "
        "limit from the cgroup (`cgroup v1`, 2 GiB). In the modes *watchdog* and *watchdog + "
        "cap* its pre-run check is off (`mode='off'`), so only the runtime protections are "
        "measured; *defaults* is `oomguard.enable()` as it comes (pre-run check in mode "
        "`auto`, watchdog 0.95, no cap), what a user gets. *Clear*: the limit "
        "less the group's largest working set during the cell (usage less inactive page "
        "cache, read every 5 ms).",
        "",
        "| scenario | " + " | ".join(modes) + " |",
        "| --- | " + " | ".join("---" for _ in modes) + " |",
    ]
    for scenario in scenarios:
        lines.append(f"| {scenario} | " + " | ".join(_cell(of(m, scenario)) for m in modes)
                     + " |")
    lines.append("| all | " + " | ".join(
        f"**{sum(r.survived for r in of(m))}/{len(of(m))}**" for m in modes) + " |")

    kept = [r for r in results if r.kernel_alive]
    lines += ["", "Targets:", ""]
    lines += _targets(results, of)
    lines += [
        f"- An earlier variable kept its value in {sum(bool(r.sentinel_intact) for r in kept)}"
        f" of the {len(kept)} runs whose kernel lived.",
        "",
        "Scenarios: *accumulate graphs* keeps every (features, edges) pair it builds "
        "(~8 MiB each); *losses with autograd graphs* appends each step's loss with its "
        "graph; *dense adjacency* builds a 2^18-column float32 matrix k rows (k MiB) at a "
        "time; *DataLoader workers grow*: two workers each keep 16 or 64 MiB per item they "
        "load (the OOM killer then picks a worker, the largest process: the kernel lives, "
        "the cell fails, and it counts as killed: *killed: worker*); *single giant "
        "allocation* is one call, `torch.ones(28378, 28378)` (3.0 GiB). With the watchdog "
        "alone the giant allocation is expected to die (no Python runs until the call "
        f"returns): only the cap stops it. *hung*: no answer in {HANG} s, the kernel alive "
        "at the limit (reclaiming and faulting back its own code pages instead of being "
        "killed); the harness then kills it.",
        "",
    ]
    return "\n".join(lines)


def _targets(results, of) -> List[str]:
    out = []
    misses = [f"{s}" for s in LOOPS if not all(r.survived for r in of("watchdog", s))]
    out.append("- Every loop scenario survives with the watchdog alone: "
               + ("met." if not misses else f"**missed**: {', '.join(misses)}."))
    misses = [s for s in SCENARIOS_REAL if not all(r.survived for r in of("watchdog + cap", s))]
    out.append("- Everything survives with watchdog + cap: "
               + ("met." if not misses else f"**missed**: {', '.join(misses)}."))
    misses = [s for s in LOOPS if not all(r.survived for r in of("defaults", s))]
    out.append("- Every loop scenario survives with the defaults: "
               + ("met." if not misses else f"**missed**: {', '.join(misses)}."))
    lived = [s for s in SCENARIOS_REAL if any(r.survived for r in of("none", s))]
    out.append("- Nothing survives with oomguard off (the limit is real): "
               + ("met." if not lived else f"**missed**: {', '.join(lived)} survived."))
    thin = []
    for scenario, step in STEP_MIB.items():
        for mode in list(MODES)[1:]:
            clear = [r.clear for r in of(mode, scenario) if r.survived]
            if clear and min(clear) < step:
                thin.append(f"{scenario}, {mode} ({min(clear):.0f} MiB clear, a step is "
                            f"{step:g} MiB)")
    out.append("- Every loop that survived ended at least one step (what one iteration "
               "adds, where the code fixes it) below the limit (issue 13): "
               + ("met." if not thin else
                  "**missed**: " + "; ".join(thin) + ": a heavier baseline or a step more "
                  "would be killed."))
    return out


def section(runs: int, only: str = "", save: str = "", load: str = "") -> str:
    """The section with its markers; says why where it cannot be measured. `save`: also
    write the runs to this JSON file; `load`: render runs saved before, measuring nothing."""
    if load:
        saved = json.loads(Path(load).read_text())
        results = [Run(**run) for run in saved["runs"]]
        return f"{START}\n{write(results, saved['per_cell'], saved['seconds'])}\n{END}"
    reason = unavailable()
    if reason is not None:
        return (f"{START}\n## Survival under a real memory limit\n\nNot measured: {reason}.\n"
                f"{END}")
    started = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        results = measure(runs, workdir, only=only,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    seconds = time.time() - started
    if save:
        Path(save).write_text(json.dumps({"per_cell": runs, "seconds": seconds,
                                          "runs": [asdict(run) for run in results]}))
    return f"{START}\n{write(results, runs, seconds)}\n{END}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario and mode")
    parser.add_argument("--print", action="store_true", help="print instead of writing")
    parser.add_argument("--only", default="", help="only the scenarios whose name has this "
                        "(a trial: printed, never written)")
    parser.add_argument("--save", default="", help="also write the runs to this JSON file")
    parser.add_argument("--load", default="", help="render runs saved with --save (no "
                        "measuring)")
    args = parser.parse_args()
    block = section(args.runs, args.only, args.save, args.load)
    if args.print or args.only:
        print(block)
        return
    doc = OUT.read_text()
    at, end = doc.find(START), doc.find(END)
    chart = doc.find("<!-- chart-benchmark:start -->")  # after the simulated survival table
    if at >= 0 and end > at:
        doc = doc[:at] + block + doc[end + len(END):]
    elif chart >= 0:
        doc = doc[:chart] + block + "\n\n" + doc[chart:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    OUT.write_text(doc)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
