"""Where a short cell's round trip goes: oomguard's parts switched off one at a time.

    .venv/bin/python benchmarks/percell_parts.py [cells]     # prints a Markdown table

The harness of percell.py (a trivial cell, `pass`, numpy and torch imported, 1,000 names;
`execute_request` to `execute_reply` through jupyter_client, one kernel per setup,
interleaved in 10 rounds), with these kernels side by side:

- bare, and bare running a cell that prints a line as long as the text summary;
- oomguard's text summary, and the same with `summary='off'` (no stream message);
- the JupyterLab mode (comm open), then with the cell's comm messages sent on its path as
  before issue 12's round-trip work (`cell_start` from pre_run_cell, `cell` from
  post_run_cell), then without any cell message, then also without the watchdog's
  thread, then also without the sampler's.

Switching a part off reaches into the runtime (`oomguard.runtime._runtime`): a benchmark's
liberty, not an API. On a shared machine a kernel's median moves by ±0.2 ms from one run
to the next: read several runs, not one.
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from kernel import Kernel  # noqa: E402
from percell import NAMESPACE_1000, OPEN, PRINTED_LINE  # noqa: E402

ENABLE = "import oomguard; oomguard.enable()"
RUNTIME = "import oomguard.runtime as _R; _rt = _R._runtime; from oomguard import protocol as _p; "
MESSAGES_AT_ONCE = RUNTIME + (
    "_rt.recorder.on_start.append(lambda c: _rt.bridge.send_all(_p.cell_start(c))); "
    "_rt.recorder.on_start.remove(_rt.bridge.cell_started); "
    "_i = _rt.recorder.on_record.index(_rt.bridge.cell_recorded); "
    "_rt.recorder.on_record[_i] = lambda r: _rt.bridge.send_all(_p.cell(r.to_dict()))")
NO_MESSAGES = RUNTIME + ("_rt.recorder.on_start.remove(_rt.bridge.cell_started); "
                         "_rt.recorder.on_record.remove(_rt.bridge.cell_recorded)")
NO_WATCHDOG = RUNTIME + "_rt.guard.watchdog.stop()"
NO_SAMPLER = RUNTIME + "_rt.sampler.stop()"
PRINT = f"print({PRINTED_LINE!r})"

# name: (setup cells, comm open, the measured cell)
SETUPS = {
    "bare kernel": ([], False, "pass"),
    "bare kernel, the cell prints a line": ([], False, PRINT),
    "text summary": ([ENABLE], False, "pass"),
    "text summary off (`summary='off'`, no comm)": (
        ["import oomguard; oomguard.enable(summary='off')"], False, "pass"),
    "JupyterLab mode": ([ENABLE], True, "pass"),
    "JupyterLab mode, cell messages on the cell's path (as before)": (
        [ENABLE, MESSAGES_AT_ONCE], True, "pass"),
    "JupyterLab mode, no cell messages": ([ENABLE, NO_MESSAGES], True, "pass"),
    "… and no watchdog thread": ([ENABLE, NO_MESSAGES, NO_WATCHDOG], True, "pass"),
    "… and no sampler thread": ([ENABLE, NO_MESSAGES, NO_WATCHDOG, NO_SAMPLER], True, "pass"),
}


def measure(cells: int = 1000, rounds: int = 10) -> dict:
    kernels = {name: Kernel() for name in SETUPS}
    try:
        for name, (setup, comm, cell) in SETUPS.items():
            kernel = kernels[name]
            kernel.run("import numpy, torch")
            kernel.run(NAMESPACE_1000)
            for code in setup:
                kernel.run(code)
            if comm:
                kernel.open_comm("oomguard", OPEN)
            for _ in range(20):
                kernel.run(cell)
        times = {name: [] for name in SETUPS}
        for _ in range(rounds):
            for name, kernel in kernels.items():
                cell = SETUPS[name][2]
                times[name] += [kernel.run(cell)[0] for _ in range(cells // rounds)]
        return {name: statistics.median(t) * 1000 for name, t in times.items()}
    finally:
        for kernel in kernels.values():
            kernel.close()


def table(found: dict) -> str:
    bare = found["bare kernel"]
    lines = ["| kernel | round trip (median) | against bare |", "| --- | --- | --- |"]
    for name, ms in found.items():
        lines.append(f"| {name} | {ms:.2f} ms | {ms / bare:.3f}× ({ms - bare:+.2f} ms) |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))
