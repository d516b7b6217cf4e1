"""predict(): parse, analyse within the time budget, turn events into Findings."""
from __future__ import annotations

import ast
import gc
import logging
import re
import threading
import warnings
from typing import Dict, List, Optional, Union

from . import rules
from .analysis import Analysis
from .budget import Available, Budget, OutOfTime, BUDGET_S
from .findings import MIN_REPORTED, Finding, format_bytes
from .resolve import Resolver

log = logging.getLogger("oomguard")

# Characters. ast.parse cannot be interrupted and a 120 kB cell takes 0.1-0.5 s to parse
# (and free) on a busy machine: past this size the predictor says nothing.
MAX_SOURCE = 50_000
_MAGIC = re.compile(r"^(\s*)(?:[%!]|[\w.,\s\[\]]+=\s*[%!])")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$|^\s*\?")


def strip_magics(source: str) -> Optional[str]:
    """IPython syntax out, line numbers kept: a `%`/`!` line becomes `pass` at its
    indentation. A cell magic (`%%...` first) is not Python: None."""
    lines = source.split("\n")
    for line in lines:
        if line.strip():
            if line.lstrip().startswith("%%"):
                return None
            break
    out = []
    for line in lines:
        match = _MAGIC.match(line)
        if match or _HELP.match(line):
            indent = match.group(1) if match else line[:len(line) - len(line.lstrip())]
            out.append(indent + "pass")
        else:
            out.append(line)
    return "\n".join(out)


class _QuietWarnings:
    """Every warning ignored while predicting, as catch_warnings() and
    simplefilter("ignore") would, at a fraction of their cost on the cell's path (~30 µs
    in a kernel): the filter list is swapped for one that ignores all and put back, and
    nothing else is touched (catch_warnings also marks the filters changed, which makes
    every module's warning registry start afresh). Two predictions at once (the pre-run
    check and an edit-time one) share one swap: the first in saves the user's list, the
    last out puts it back, so neither can leave the other's list behind."""

    def __init__(self):
        self._lock = threading.Lock()  # held for the swap only, never while predicting
        self._inside = 0
        self._saved: Optional[list] = None

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved = warnings.filters
                warnings.filters = [("ignore", None, Warning, None, 0)]
            self._inside += 1

    def __exit__(self, *_exc) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                warnings.filters, self._saved = self._saved, None


_QUIET = _QuietWarnings()


def predict(source: str, namespace: Optional[dict] = None, *,
            ram_available: Optional[int] = None,
            vram_available: Union[int, Dict, None] = None,
            budget_s: float = BUDGET_S, manage_gc: bool = True) -> List[Finding]:
    """Findings (>= 1 MiB) for the cell `source` given the live `namespace`.
    Never raises, never runs user code; past the time budget, returns what it has.

    `manage_gc`: defer the cyclic collector while predicting. The switch is process-wide,
    so it is only ever used on the main thread (where the pre-run check runs, before the
    cell's code), and the state found is the state left. From any other thread, or with
    manage_gc=False (edit-time predictions), gc is never touched: user code may be running
    on the main thread and must see gc exactly as it set it."""
    # A full collection in a kernel with torch loaded takes ~0.2 s, and the AST's
    # allocations can trigger one: defer it to the cell, which would pay it anyway.
    deferred = manage_gc and threading.current_thread() is threading.main_thread() \
        and gc.isenabled()
    if deferred:
        gc.disable()
    try:
        return _predict(source, namespace, ram_available, vram_available, budget_s)
    except Exception:  # the predictor must never break a cell
        log.debug("oomguard: predictor failed", exc_info=True)
        return []
    finally:
        if deferred:
            gc.enable()


def _predict(source, namespace, ram_available, vram_available, budget_s) -> List[Finding]:
    if not isinstance(source, str) or len(source) > MAX_SOURCE:
        return []
    budget = Budget(budget_s)
    text = strip_magics(source)
    if text is None:
        return []
    # Invalid escapes, torch's warnings from meta evaluation...: the cell's own run warns.
    with _QUIET:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return []
        analysis = Analysis(text, namespace, Resolver(rules.names_by_family(), budget),
                            budget)
        try:
            analysis.run(tree)
        except (OutOfTime, RecursionError):
            pass  # give up silently: report what was found so far
    if not analysis.events:  # most cells
        return []
    return findings_from(analysis.events, Available(ram_available, vram_available))


def findings_from(events, available: Available) -> List[Finding]:
    best: Dict[tuple, object] = {}
    for event in events:
        if event.nbytes < MIN_REPORTED:
            continue
        key = (event.line, event.device)
        kept = best.get(key)
        if kept is None or (event.peak, event.nbytes) > (kept.peak, kept.nbytes):
            best[key] = event
    findings = []
    for event in sorted(best.values(), key=lambda e: (e.line, e.device)):
        free = available.on(event.device)
        risky = free is not None and event.peak > free
        message = event.message
        if free is not None:
            message += (f". Only {format_bytes(free)} is free there: the session would run "
                        "out of memory." if risky else f" ({format_bytes(free)} free).")
        else:
            message += " (free memory there unknown)."
        findings.append(Finding(event.kind, event.line, event.nbytes, event.peak,
                                event.device, risky, message, event.suggestion, free,
                                event.exact))
    return findings
