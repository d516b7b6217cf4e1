"""The pre-run check: an IPython AST transformer that asks the predictor about the cell
about to run, then warns (mode "warn") or raises InputRejected (mode "block").

It runs after the cell parsed and before any of it runs. The cell's source and the user's
namespace go to the predictor (oomguard.predict, or a function set as Guard.predictor);
a predictor that is missing or raises never affects the cell."""
from __future__ import annotations

import ast
import importlib
import logging
import sys
import threading
from typing import Callable, List, Optional

from .. import protocol
from ..records import _plain
from . import text

log = logging.getLogger("oomguard")

ALLOW_LINE = "%%oomguard allow"
# Seconds a cell's check waits for an edit-time prediction to finish (each is bounded by
# the predictor's budget and source cap); past it the check is skipped, never the cell.
CHECK_WAIT_S = 2.0


def allows(raw_cell) -> bool:
    """Whether the cell's first non-blank line is `%%oomguard allow`."""
    if not isinstance(raw_cell, str):
        return False
    for line in raw_cell.splitlines():
        if line.strip():
            return " ".join(line.split()) == ALLOW_LINE
    return False


def strip_allow_line(lines: List[str]) -> List[str]:
    """Input transformer (cleanup stage): `%%oomguard allow` becomes a blank line, so the
    rest of the cell runs as an ordinary cell (last expression shown, magics work) with
    its line numbers unchanged. Pure: IPython also calls it to check completeness."""
    for index, line in enumerate(lines):
        if line.strip():
            if " ".join(line.split()) == ALLOW_LINE:
                return lines[:index] + ["\n"] + lines[index + 1:]
            return lines
    return lines


class PreCheck(ast.NodeTransformer):
    """What IPython calls with each compiled cell: returns the tree unchanged, or raises
    InputRejected (the one exception IPython lets through as "rejected")."""

    def __init__(self, guard):
        self.guard = guard
        self._module_predict: Optional[Callable] = None
        # (raw cell, allowed) from pre_run_cell until this runs: only the user's cell is
        # checked, not silent executes, nested run_cell calls or %time's own compile.
        self.pending = None
        # One prediction at a time, the pre-run check's (shell thread) and edit-time ones
        # (shell or subshell thread): they share the predictor and the user's namespace.
        self.lock = threading.Lock()

    def visit(self, node):
        self.check()
        return node

    def check(self) -> None:
        pending, self.pending = self.pending, None
        guard = self.guard
        if pending is None:
            return
        raw, allowed = pending
        if allowed or guard.mode == "off":
            return
        try:
            findings, free = self._predict(raw)
            risky = [f for f in findings if text.field(f, "risky") is True]
            if findings:
                guard.runtime.recorder.attach_findings(findings)
            if not risky:
                return
            self._send_warning(risky, free)
            if guard.mode == "warn":
                if not guard.runtime.bridge.open_comms:
                    print(text.warning_text(risky, free), file=sys.stderr)
                return
            message = text.block_text(risky, free)
        except Exception:
            log.warning("oomguard: the pre-run check failed", exc_info=True)
            return
        raise self._rejection(message)

    def predictor(self) -> Optional[Callable]:
        if self.guard.predictor is not None:
            return self.guard.predictor
        if self._module_predict is None:
            try:
                module = importlib.import_module("..predict", __package__)
                self._module_predict = getattr(module, "predict")
            except (ImportError, AttributeError):
                return None  # no predictor in this build: the guard only watches
        return self._module_predict

    def _predict(self, raw) -> tuple:
        shell = self.guard.shell
        if shell is None or not isinstance(raw, str):
            return [], {}
        source = shell.transform_cell(raw)  # what IPython compiled: magics as Python
        predicted = self.predict_source(source, wait=CHECK_WAIT_S)
        if predicted is None:
            log.warning("oomguard: the pre-run check was skipped: an edit-time prediction "
                        "held the predictor for %.0f s", CHECK_WAIT_S)
            self.guard.runtime.recorder.add_note(
                "The pre-run check was skipped: the predictor was busy with an edited cell.")
            return [], {}
        return predicted

    def predict_source(self, source: str, *, wait: float,
                       from_editor: bool = False) -> Optional[tuple]:
        """(findings, free) for `source` (IPython's transform of a cell) against the user's
        namespace; `free` is Guard.free()'s (free bytes per device, plus "limit"). None
        when another prediction held the lock for `wait` seconds. Used by the pre-run
        check and by edit-time predictions (editing.py), so both judge alike.

        `from_editor`: the module predictor is told not to touch gc (an edit-time
        prediction may run on a subshell thread while a cell starts)."""
        predictor = self.predictor()
        shell = self.guard.shell
        if predictor is None or shell is None:
            return [], {}
        options = {"manage_gc": False} if from_editor and predictor is self._module_predict \
            else {}
        if not self.lock.acquire(timeout=wait):
            return None
        try:
            # Most cells allocate nothing the predictor recognises: judge them against the
            # sampler's last reading (no file reads on the cell's path). A cell with
            # findings is judged again against memory measured now: the cell before may
            # have just taken what the last reading still counted as free.
            free = self.guard.free(fresh=False)
            findings = predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                                 vram_available=None, **options)
            if findings:
                free = self.guard.free(fresh=True)
                findings = predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                                     vram_available=None, **options)
            return list(findings or []), free
        finally:
            self.lock.release()

    def _send_warning(self, risky: list, free: dict) -> None:
        runtime = self.guard.runtime
        if not runtime.bridge.open_comms:
            return
        cell = runtime.recorder.running_cell() or {}
        runtime.bridge.send_all({
            "v": protocol.PROTOCOL_VERSION, "type": "warning",
            "findings": [_plain(f) for f in risky[:protocol.MAX_FINDINGS]],
            "execution_count": cell.get("execution_count"), "cell_id": cell.get("cell_id"),
            "mode": self.guard.mode, "free": {k: v for k, v in free.items() if k != "limit"},
            "limit": free.get("limit")})

    @staticmethod
    def _rejection(message: str):
        from IPython.core.error import InputRejected  # IPython is running: we are its hook
        error = InputRejected(message)
        # IPython shows this instead of a traceback through its own frames.
        error._render_traceback_ = lambda: message.splitlines()
        return error
