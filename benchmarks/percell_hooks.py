"""Where oomguard's own per-cell work goes inside a real kernel: each hook timed in place.

    .venv/bin/python benchmarks/percell_hooks.py [cells] [--detail] [--against DIR ...]
                                                 [--no-timers] [--bare]

One kernel in the JupyterLab mode (oomguard enabled, its comm open as the extension does),
numpy and torch imported, 1,000 names; then each of oomguard's hooks (pre_execute,
pre_run_cell, the pre-run check, post_execute, post_run_cell) and each of the recorder's
listeners is wrapped, in the kernel, by a timer of the thread's CPU time and of wall time,
and `pass` runs `cells` times through execute_request. CPU time is the figure to read on
a shared machine: wall time there counts other processes' turns too. Between two cells
the kernel runs ipykernel, tornado and zmq code, so the hooks run with cold caches: these
figures are several times what a warm loop in-process says.

Wrapping reaches into the runtime (`oomguard.runtime._runtime`): a benchmark's liberty,
not an API. The wrappers themselves add about a microsecond each."""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from kernel import Kernel  # noqa: E402
from percell import NAMESPACE_1000, OPEN  # noqa: E402

# Run in the kernel: replace each hook and listener by a timed wrapper that appends
# (cpu ns, wall ns) to _hook_times[label].
WRAP = r'''
import time as _t, oomguard.runtime as _R
_rt = _R._runtime
_hook_times = {}
def _timed(label, fn):
    cpu, wall, times = _t.thread_time_ns, _t.perf_counter_ns, _hook_times.setdefault(label, [])
    def timed(*args, **kwargs):
        c, w = cpu(), wall()
        try:
            return fn(*args, **kwargs)
        finally:
            times.append((cpu() - c, wall() - w))
    return timed
_shell = get_ipython()
for _event, _hooks in _shell.events.callbacks.items():
    for _i, _hook in enumerate(_hooks):
        _owner = getattr(getattr(_hook, "__self__", None), "__class__", None)
        if _owner is not None and _owner.__module__.startswith("oomguard"):
            _hooks[_i] = _timed(f"{_owner.__name__}.{_event}", _hook)
_pc = _rt.guard._precheck
_pc.visit = _timed("PreCheck.visit (the pre-run check)", _pc.visit)
for _list, _kind in ((_rt.recorder.on_start, "on_start"), (_rt.recorder.on_record, "on_record")):
    for _i, _l in enumerate(_list):
        _list[_i] = _timed(f"  {_kind}: {getattr(_l, '__qualname__', _l)}", _l)
'''
# With --detail: the calls inside the hooks, each timed the same way.
DETAIL = r'''
_rec, _g = _rt.recorder, _rt.guard
_pc._module_predict = _pc.predictor()
for _obj, _names in ((_rec, ("_latest_reading", "_finish", "_interval")),
                     (_rec.rss, ("begin", "end")), (_rec.running_max, ("start", "stop")),
                     (_rec.container, ("reset", "read")), (_rec.gpus, ("begin", "end")),
                     (_rec.cluster, ("begin", "end")),
                     (_rec.rss._files, ("reset_hwm", "max_rss", "rss", "rss_and_hwm")),
                     (_g, ("_arm", "_used_now", "free")), (_g.figures, ("limits_recent",)),
                     (_g.watchdog, ("arm", "disarm")), (_g.front_end, ("tell_cell_start",)),
                     (_pc, ("_predict", "_module_predict"))):
    for _n in _names:
        setattr(_obj, _n, _timed(f"    {type(_obj).__name__}.{_n}", getattr(_obj, _n)))
import oomguard.records as _records, oomguard.guard.core as _core
for _mod, _names in ((_records, ("_Running", "CellRecord", "_cell_id", "classify_status")),
                     (_core, ("Growth", "Arming"))):
    for _n in _names:
        setattr(_mod, _n, _timed(f"    {_mod.__name__}.{_n}", getattr(_mod, _n)))
'''
REPORT = ("{k: (sorted(c for c, w in v)[len(v) // 2], sorted(w for c, w in v)[len(v) // 2], "
          "len(v)) for k, v in _hook_times.items() if v}")


BARE = "bare kernel (no oomguard)"


def _prepare(kernel: Kernel, detail: bool, timers: bool = True, bare: bool = False) -> None:
    kernel.run("import numpy, torch")
    kernel.run(NAMESPACE_1000)
    if bare:
        kernel.run("_hook_times = {}")
        return
    kernel.run("import oomguard; oomguard.enable()")
    kernel.open_comm("oomguard", OPEN)
    for _ in range(20):
        kernel.run("pass")
    if not timers:  # the round trips alone, without the timers' own cost
        kernel.run("_hook_times = {}")
        return
    kernel.run(WRAP + (DETAIL if detail else ""))
    kernel.run("for _v in _hook_times.values(): _v.clear()")


def measure(cells: int = 600, detail: bool = False, against: "list | None" = None,
            rounds: int = 10, timers: bool = True, bare: bool = False) -> dict:
    """{setup: {"hooks": {label: (cpu ns, wall ns, calls)}, "round_trip_ms": ms}}: the
    installed oomguard, and for each directory in `against` the shim there (put first on
    the kernel's PYTHONPATH) in a kernel beside it, cells interleaved in rounds."""
    setups = {"installed": None}
    for directory in against or []:
        setups[directory] = {"PYTHONPATH": str(Path(directory).resolve())}
    if bare:
        setups[BARE] = None
    kernels = {name: Kernel(env) for name, env in setups.items()}
    try:
        for name, kernel in kernels.items():
            _prepare(kernel, detail, timers, bare=name == BARE)
        trips = {name: [] for name in kernels}
        for _ in range(rounds):
            for name, kernel in kernels.items():
                trips[name] += [kernel.run("pass")[0] for _ in range(cells // rounds)]
        return {name: {"hooks": kernel.value(REPORT),
                       "round_trip_ms": statistics.median(trips[name]) * 1000}
                for name, kernel in kernels.items()}
    finally:
        for kernel in kernels.values():
            kernel.close()


def table(found: dict) -> str:
    names = list(found)
    rows = ["| hook | " + " | ".join(f"CPU, {name}" for name in names) + " | calls |",
            "| --- |" + " --- |" * (len(names) + 1)]
    first = found[names[0]]["hooks"]
    for label, (_cpu, _wall, calls) in first.items():
        cpus = [found[name]["hooks"].get(label, (None,))[0] for name in names]
        rows.append(f"| {label} | " + " | ".join(
            f"{cpu / 1000:.1f} µs" if cpu is not None else "-" for cpu in cpus) + f" | {calls} |")
    top = [label for label in first if not label.startswith(" ")]
    totals = [sum(found[name]["hooks"][label][0] for label in top if label in found[name]["hooks"])
              for name in names]
    rows.append("| all hooks (sum of medians) | " +
                " | ".join(f"{total / 1000:.1f} µs" for total in totals) + " | |")
    rows.append("| round trip (median) | " +
                " | ".join(f"{found[name]['round_trip_ms']:.2f} ms" for name in names) + " | |")
    return "\n".join(rows)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cells", nargs="?", type=int, default=600)
    parser.add_argument("--detail", action="store_true",
                        help="also time the calls inside the hooks")
    parser.add_argument("--against", metavar="DIR", action="append",
                        help="a shim directory (python_shim/ of a checkout) to compare with "
                             "the installed oomguard, in a kernel beside it (repeatable)")
    parser.add_argument("--no-timers", action="store_true",
                        help="no hook timed: the round trips alone (with --against, paired)")
    parser.add_argument("--bare", action="store_true",
                        help="also a kernel without oomguard, for its round trip")
    args = parser.parse_args()
    print(table(measure(args.cells, args.detail, args.against, timers=not args.no_timers,
                        bare=args.bare)))
