"""oomguard: live kernel memory against the session's real limit, and what each cell cost.

`%load_ext oomguard` (or `oomguard.enable()`) starts a sampler thread, records every cell
(IPython's pre/post_run_cell) and registers the "oomguard" comm target that the
JupyterLab extension talks to (docs/protocol.md). Without that extension, a one-line
summary follows each cell, `%oomguard` shows the readings and `oomguard.dashboard()` a
live display."""
from __future__ import annotations

import logging
from typing import List

try:
    from ._version import __version__  # written by hatch at build time
except ImportError:
    __version__ = "0.0.0+unknown"

from .predict import Finding, predict  # never raises; the function shadows the subpackage
from .protocol import SAMPLE_FIELDS
from .records import CellRecord
from .runtime import get_runtime

# A library does not configure logging; this keeps warnings out of cell output unless
# the user sets up logging for "oomguard".
logging.getLogger("oomguard").addHandler(logging.NullHandler())
_log = logging.getLogger("oomguard")

_runtime = get_runtime(__version__)

__all__ = ["enable", "disable", "snapshot", "cells", "variables", "leak_hints", "export",
           "dashboard", "allow_next", "predict", "CellRecord", "Finding", "__version__"]


def enable(**settings) -> None:
    """Start measuring (idempotent; call again to change settings).

    interval: seconds between readings, 0.1-60 (default 1.0).
    limit: bytes; your own limit, used when smaller than the real one (None: none).
    summary: "off", "summary" or "verbose": text after each cell. Default (None): a
        one-line summary unless the JupyterLab extension is attached and shows it.
    torch_peak_reset: True (default) resets torch.cuda's peak statistics before each
        cell to measure that cell's GPU peak; this overwrites what your own code reads
        from torch.cuda.max_memory_allocated(). False leaves them alone (the GPU peak is
        then the sampler's).
    spool: a directory for the on-disk timeline (JSONL, rotated), None for the default
        ($OOMGUARD_SPOOL_DIR or ~/.cache/oomguard/spool), False for none. A kernel killed
        by the OOM killer leaves its timeline there: `python -m oomguard export`.
    clusters: True (default) records, per cell, the memory of a Dask cluster whose
        `distributed.Client` is in your namespace (sampled through its scheduler on a
        thread of oomguard's, never slowing the cell); False: never look.
    mode: the pre-run check (docs/guard.md). "auto" (default): stop a cell before it
        runs when an exact size (known shapes and dtypes) cannot fit in what the session
        can have, and say so, then run it, where a size that may not fit is an estimate;
        "warn": say so and run it; "block": stop every cell predicted not to fit; "off".
    watchdog: interrupt a running cell before memory reaches the limit: at this fraction
        of it (default 0.95) or earlier, when the cell's own steps say the next one would
        cross the limit first; None or False: no watchdog.
    hard_cap: True caps the data segment (RLIMIT_DATA) just under the limit, so one huge
        allocation fails with an exception instead of an OOM kill (default False)."""
    try:
        _runtime.enable(**settings)
    except Exception:
        _log.warning("oomguard: enable failed", exc_info=True)


def allow_next() -> None:
    """Let the next cell run without the pre-run check (like `%%oomguard allow`)."""
    try:
        _runtime.guard.allow_next()
    except Exception:
        _log.warning("oomguard: allow_next failed", exc_info=True)


def disable() -> None:
    """Stop the sampler and the per-cell records, close open comms, unregister the comm
    target. The records taken so far stay available through cells()."""
    try:
        _runtime.disable()
    except Exception:
        _log.warning("oomguard: disable failed", exc_info=True)


def snapshot() -> dict:
    """The current reading: the fields of a `sample` message (docs/protocol.md)."""
    try:
        return _runtime.snapshot()
    except Exception:
        _log.warning("oomguard: snapshot failed", exc_info=True)
        reading = {name: None for name in SAMPLE_FIELDS}
        reading.update(limit_source="unknown", notes=["oomguard could not take a reading."])
        return reading


def cells() -> List[CellRecord]:
    """One CellRecord per executed cell since enable(), oldest first (the last 10,000)."""
    try:
        return _runtime.cells()
    except Exception:
        _log.warning("oomguard: cells failed", exc_info=True)
        return []


def variables() -> list:
    """The user's variables with their sizes (VariableInfo dicts, docs/protocol.md)."""
    try:
        return _runtime.scan_variables()[0]
    except Exception:
        _log.warning("oomguard: variables failed", exc_info=True)
        return []


def leak_hints() -> list:
    """Advice about memory that keeps growing: variables that grew in each of the last
    cells, containers that keep autograd graphs alive (losses.append(loss)). Each hint
    is a dict: kind, name, message, suggestion, bytes. Updated shortly after each cell."""
    try:
        return _runtime.leaks.hints
    except Exception:
        _log.warning("oomguard: leak_hints failed", exc_info=True)
        return []


def export(path, format: str = "csv") -> List[str]:
    """Write the timeline (samples and cell records) to `path` as "csv", "json" or
    "trace" (Chrome Trace Event JSON: open it in Perfetto). Returns the paths written
    (csv writes a second file, <stem>.cells.csv); [] with a warning if it could not."""
    try:
        return _runtime.export(path, format)
    except (ValueError, OSError) as error:
        import warnings
        message = f"oomguard: export failed: {error}"
        _log.warning(message)
        warnings.warn(message, stacklevel=2)
        return []
    except Exception:
        _log.warning("oomguard: export failed", exc_info=True)
        return []


def dashboard():
    """Show a live memory display that updates while cells run (at most once a second).
    Returns a handle with .stop(); a new dashboard() replaces the previous one."""
    try:
        return _runtime.dashboard()
    except Exception:
        _log.warning("oomguard: dashboard failed", exc_info=True)
        return None


def load_ipython_extension(ip) -> None:
    enable()


def unload_ipython_extension(ip) -> None:
    disable()


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-oomguard"}]
