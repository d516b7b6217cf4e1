"""The pre-run check: an IPython AST transformer that asks the predictor about the cell
about to run, then warns or raises InputRejected as the mode says (verdict.py: "auto",
the default, blocks only what exactly cannot fit; "warn"; "block").

It runs after the cell parsed and before any of it runs. The cell's source and the user's
namespace go to the predictor (oomguard.predict, or a function set as Guard.predictor);
a predictor that is missing or raises never affects the cell.

The pre-run check has priority over edit-time predictions (editing.py, on a subshell
thread while a cell may start): it never waits for one. Edit-time predictions take turns
among themselves only, and one that finds a cell started stops before its second pass;
whatever is left of it runs beside the check, each within the predictor's own time
budget. So the predictor must be safe to call from two threads at once: it keeps no
state between calls (each call parses and resolves afresh) and only reads the
namespace."""
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
from .verdict import judge

log = logging.getLogger("oomguard")

ALLOW_LINE = "%%oomguard allow"


def allows(raw_cell) -> bool:
    """Whether the cell's first non-blank line is `%%oomguard allow`."""
    if not isinstance(raw_cell, str):
        return False
    for line in raw_cell.splitlines():
        if line.strip():
            return " ".join(line.split()) == ALLOW_LINE
    return False


_static_transformer = None


def static_transform(raw: str) -> Optional[str]:
    """The cell as IPython compiles it, as far as its text alone says: IPython's own
    static transformers (magics and shell escapes as Python calls, help syntax, prompts,
    `%%oomguard allow` stripped; line numbers kept). Not `shell.transform_cell`: its
    prefilter (single-line cells) looks names up in the user's namespace, running
    properties and `__getattr__`, and with %autocall rewrites calls; nor transformers
    the user registered. Running no user code, for cells that have not been run. None
    where the text cannot be transformed."""
    global _static_transformer
    try:
        if _static_transformer is None:
            # IPython's own module: loaded already in any shell that has us as a hook.
            from IPython.core.inputtransformer2 import TransformerManager
            manager = TransformerManager()
            manager.cleanup_transforms.append(strip_allow_line)
            _static_transformer = manager
        source = _static_transformer.transform_cell(raw)
    except Exception:
        return None
    return source if isinstance(source, str) else None


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
        # Edit-time predictions (shell or subshell thread) take turns on this; the
        # pre-run check never takes it (see the module's docstring).
        self.edit_turn = threading.Lock()

    def visit(self, node):
        self.check()
        return node

    def check(self) -> None:
        pending, self.pending = self.pending, None
        guard = self.guard
        if pending is None:
            return
        raw, transformed, allowed = pending
        if allowed or guard.mode == "off":
            return
        try:
            findings, free = self._predict(raw, transformed)
            if findings:
                guard.runtime.recorder.attach_findings(findings)
            verdict = judge(findings, free, guard.mode, guard.hard_cap)
            if verdict is None:
                return
            self._send_warning(verdict, free)
            if not verdict.block:
                if not guard.runtime.bridge.open_comms:
                    print(text.warning_text(verdict, free), file=sys.stderr)
                return
            message = text.block_text(verdict, free)
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

    def _predict(self, raw, transformed) -> tuple:
        source = transformed if isinstance(transformed, str) else \
            static_transform(raw) if isinstance(raw, str) else None
        if source is None:
            return [], {}
        return self._judge(source, {}, lambda: True)

    def predict_for_editor(self, source: str, *, wait: float,
                           cell_started: Callable[[], bool]) -> Optional[tuple]:
        """An edit-time prediction (editing.py): (findings, free) as the pre-run check
        would make them, or None when another edit-time prediction kept the turn for
        `wait` seconds or `cell_started()` turned true (the namespace is changing: the
        answer would be stale, and the cell's own check goes first).

        The module predictor is told not to touch gc (this may run on a subshell thread
        while a cell starts)."""
        if not self.edit_turn.acquire(timeout=wait):
            return None
        try:
            options = {"manage_gc": False} if self.predictor() is self._module_predict \
                else {}
            judged = self._judge(source, options, lambda: not cell_started())
            return None if cell_started() else judged
        finally:
            self.edit_turn.release()

    def _judge(self, source: str, options: dict, go_on: Callable[[], bool]) -> Optional[tuple]:
        """(findings, free) for `source` (IPython's transform of a cell) against the user's
        namespace; `free` is Guard.free()'s (free bytes per device, plus "limit"). Both
        the pre-run check and edit-time predictions judge here, so they judge alike.
        `go_on()` false between the passes: stop (None)."""
        predictor = self.predictor()
        shell = self.guard.shell
        if predictor is None or shell is None:
            return [], {}
        # Most cells allocate nothing the predictor recognises: judge them against the
        # sampler's last reading (no file reads on the cell's path). A cell with findings
        # is judged again against memory measured now: the cell before may have just
        # taken what the last reading still counted as free.
        free = self.guard.free(fresh=False)
        findings = predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                             vram_available=None, **options)
        if findings:
            if not go_on():
                return None
            free = self.guard.free(fresh=True)
            findings = predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                                 vram_available=None, **options)
        return list(findings or []), free

    def _send_warning(self, verdict, free: dict) -> None:
        runtime = self.guard.runtime
        if not runtime.bridge.open_comms:
            return
        cell = runtime.recorder.running_cell() or {}
        runtime.bridge.send_all(protocol.warning(
            [_plain(f) for f in verdict.shown], cell.get("execution_count"),
            cell.get("cell_id"), "block" if verdict.block else "warn",
            {k: v for k, v in free.items() if k not in ("limit", "page_cache")},
            free.get("limit"), setting=verdict.mode, single_call=verdict.single_call,
            page_cache=verdict.page_cache))

    @staticmethod
    def _rejection(message: str):
        from IPython.core.error import InputRejected  # IPython is running: we are its hook
        error = InputRejected(message)
        # IPython shows this instead of a traceback through its own frames.
        error._render_traceback_ = lambda: message.splitlines()
        return error
