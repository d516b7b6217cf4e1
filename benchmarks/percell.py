"""What oomguard adds to each cell, side by side with the bare shell (issue 12).

    .venv/bin/python benchmarks/percell.py     # prints the section; run.py writes it

Two measures of a trivial cell (`pass`) with numpy and torch imported and 1,000 names:
- in-process: IPython's own `run_cell`, timed around the call, in one process that
  switches between bare, oomguard with the text summary (the default without the
  JupyterLab extension) and oomguard with `summary='off'` (the JupyterLab mode), in
  interleaved rounds. This is oomguard's own cost, without the kernel's messaging.
- round trip: `execute_request` to `execute_reply` through jupyter_client, one kernel per
  setup, interleaved; "JupyterLab" opens the oomguard comm as the extension does, so the
  cell's `cell` record is sent too (after the reply; a cell this short sends no
  `cell_start`). A second bare kernel runs a cell that prints one line as long as the
  text summary's: the text mode's own stream message, which any `print` pays, against
  that.
Each also with `distributed` imported, where it is installed (oomguard then follows a
Dask cluster's memory, where its version has the cluster watch).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from kernel import Kernel  # noqa: E402

NAMESPACE_1000 = "for _i in range(1000): globals()[f'v{_i}'] = _i"
TARGET_ADDED_MS = 0.3
TARGET_RATIO = 1.05
IN_PROCESS_MODES = {"bare": None, "text summary": {}, "summary='off'": {"summary": "off"}}


def distributed_installed() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("distributed") is not None
    except Exception:
        return False


# -- in-process ---------------------------------------------------------------------------
def _in_process(cells: int, rounds: int, with_distributed: bool) -> dict:
    """Run in a process of its own (`--in-process`): median ms per setup."""
    from IPython.testing.globalipapp import start_ipython
    shell = start_ipython()
    import numpy  # noqa: F401
    import torch  # noqa: F401
    if with_distributed:
        import distributed  # noqa: F401
    for i in range(1000):
        shell.user_ns[f"v{i}"] = i
    import oomguard
    times = {mode: [] for mode in IN_PROCESS_MODES}
    quiet = open(os.devnull, "w")  # the text summary is written, as to a kernel's stream
    real_stdout = sys.stdout
    try:
        for _ in range(rounds):
            for mode, settings in IN_PROCESS_MODES.items():
                if settings is None:
                    oomguard.disable()
                else:
                    oomguard.enable(summary=settings.get("summary"))
                sys.stdout = quiet
                try:
                    for _ in range(20):  # warm up after the switch
                        shell.run_cell("pass")
                    for _ in range(cells // rounds):
                        started = time.perf_counter()
                        shell.run_cell("pass")
                        times[mode].append(time.perf_counter() - started)
                finally:
                    sys.stdout = real_stdout
    finally:
        oomguard.disable()
        quiet.close()
    return {mode: (statistics.median(t) * 1000, len(t)) for mode, t in times.items()}


def in_process(cells: int = 4000, rounds: int = 10, with_distributed: bool = False) -> dict:
    """{mode: (median ms, cells)} from a fresh interpreter."""
    done = subprocess.run([sys.executable, __file__, "--in-process", str(cells), str(rounds),
                           "1" if with_distributed else "0"],
                          capture_output=True, text=True, check=True, timeout=900)
    return {mode: tuple(value) for mode, value in json.loads(done.stdout.splitlines()[-1]).items()}


# -- round trip ---------------------------------------------------------------------------
OPEN = {"v": 1, "type": "open", "client": "benchmark"}
ROUND_TRIP_SETUPS = {
    "bare kernel": "",
    "bare kernel, printing a line": "",
    "oomguard, text summary": "import oomguard; oomguard.enable()",
    "oomguard, JupyterLab (comm open)": "import oomguard; oomguard.enable()",
}
# As long as the text summary of `pass` on this machine (95 characters and a newline).
PRINTED_LINE = ("[oomguard] cell 4: +12.0 KiB (peak +12.0 KiB) · 2.7 GiB of 23.5 GiB session "
                "(physical) · 1 ms")


def cell_of(setup: str) -> str:
    return f"print({PRINTED_LINE!r})" if "printing" in setup else "pass"


def round_trip(cells: int = 1000, rounds: int = 10, with_distributed: bool = False) -> dict:
    """{setup: (median ms, cells)}: interleaved execute round trips of `pass`."""
    kernels = {name: Kernel() for name in ROUND_TRIP_SETUPS}
    try:
        for name, kernel in kernels.items():
            kernel.run("import numpy, torch")
            if with_distributed:
                kernel.run("import distributed")
            kernel.run(NAMESPACE_1000)
            if ROUND_TRIP_SETUPS[name]:
                kernel.run(ROUND_TRIP_SETUPS[name])
            if "comm open" in name:
                kernel.open_comm("oomguard", OPEN)
            for _ in range(20):
                kernel.run(cell_of(name))
        times = {name: [] for name in kernels}
        for _ in range(rounds):
            for name, kernel in kernels.items():
                code = cell_of(name)
                times[name] += [kernel.run(code)[0] for _ in range(cells // rounds)]
        return {name: (statistics.median(t) * 1000, len(t)) for name, t in times.items()}
    finally:
        for kernel in kernels.values():
            kernel.close()


# -- the section --------------------------------------------------------------------------
def measure() -> dict:
    found = {"in_process": in_process(), "round_trip": round_trip()}
    if distributed_installed():
        found["in_process_distributed"] = in_process(with_distributed=True)
        found["round_trip_distributed"] = round_trip(with_distributed=True)
    return found


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def in_process_rows(figures: dict, label: str = "") -> list:
    bare = figures["bare"][0]
    rows = []
    for mode in ("text summary", "summary='off'"):
        ms, count = figures[mode]
        added = ms - bare
        rows.append(f"| in-process{label}, {mode} (median of {count}) | {ms:.3f} ms "
                    f"(+{added:.3f} ms, {ms / bare:.2f}×) | bare shell {bare:.3f} ms "
                    f"| ≤ +{TARGET_ADDED_MS} ms | {verdict(added <= TARGET_ADDED_MS)} |")
    return rows


def round_trip_rows(figures: dict, label: str = "") -> list:
    bare = figures["bare kernel"][0]
    rows = []
    for name in ("oomguard, text summary", "oomguard, JupyterLab (comm open)"):
        ms, count = figures[name]
        rows.append(f"| round trip{label}, {name.removeprefix('oomguard, ')} "
                    f"(median of {count}) | {ms:.2f} ms (+{ms - bare:.2f} ms, "
                    f"{ms / bare:.3f}×) | bare kernel {bare:.2f} ms | ≤ {TARGET_RATIO}× "
                    f"| {verdict(ms / bare <= TARGET_RATIO)} |")
    printing = figures.get("bare kernel, printing a line")
    if printing is not None:
        ms, count = figures["oomguard, text summary"]
        rows.append(f"| round trip{label}, text summary against a bare cell that prints a "
                    f"line (median of {count}) | {ms:.2f} ms (+{ms - printing[0]:.2f} ms, "
                    f"{ms / printing[0]:.3f}×) | bare kernel printing a line "
                    f"{printing[0]:.2f} ms | — | |")
    return rows


def section(found: dict) -> str:
    rows = in_process_rows(found["in_process"]) + round_trip_rows(found["round_trip"])
    if "in_process_distributed" in found:
        rows += in_process_rows(found["in_process_distributed"], " with distributed")
        rows += round_trip_rows(found["round_trip_distributed"], " with distributed")
        distributed_line = ("The rows \"with distributed\" import `distributed` first, "
                            "where oomguard's cluster watch (if this version has one) "
                            "follows a Dask cluster.")
    else:
        distributed_line = ("With `distributed` imported: not measured, `distributed` is "
                            "not installed in this environment.")
    return "\n".join([
        "## Per cell",
        "",
        f"Measured by `benchmarks/percell.py`: a trivial cell (`pass`) with numpy and "
        "torch imported and 1,000 names, oomguard with its defaults (pre-run check, "
        "watchdog, exact per-cell peak through `clear_refs` and the high-water mark).",
        "",
        "| measure | oomguard | compared with | target | |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "- *In-process*: IPython's `run_cell` timed around the call in one process that "
        "switches between the bare shell and oomguard's two modes in interleaved rounds: "
        "oomguard's own cost per cell. The text summary is written to `/dev/null`; "
        "`summary='off'` is the JupyterLab mode.",
        "- *Round trip*: `execute_request` to `execute_reply` through `jupyter_client`, "
        "one kernel per setup, interleaved; \"JupyterLab\" opens the oomguard comm as the "
        "extension does, so each cell also sends its `cell` record (after its reply; a cell "
        "this short sends no `cell_start`, docs/protocol.md). The text summary is one "
        "stream message in the cell's output, which any `print` pays too: the last row "
        "compares it with a bare kernel whose cell prints a line as long.",
        f"- {distributed_line}",
        "",
    ])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--in-process":
        cells, rounds, with_distributed = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
        print(json.dumps(_in_process(cells, rounds, with_distributed)))
        return
    print(section(measure()))


if __name__ == "__main__":
    main()
