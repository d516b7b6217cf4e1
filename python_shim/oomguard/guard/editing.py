"""Predictions while a cell is edited: the answer to a front end's `predict` request.

The front end sends the cell being edited while the kernel is idle; the kernel answers
with the predictor's findings so risky lines can be marked before the cell runs. The
predictor is the one the pre-run check uses (Guard.predictor or oomguard.predict), with
the same inputs: IPython's transform of the cell and the user's namespace, read through
the predictor's safe reads (no repr, no imports the user did not make).

Comm messages reach the kernel on the shell thread when it is idle, or on a subshell
thread at any time: predictions are serialised by a lock, and none is made while a cell
runs (its namespace is changing under it; the front end asks again when the kernel is
idle). The predictor has its own time budget; ast.parse, which it cannot interrupt, is
bounded by the source size cap (protocol.MAX_PREDICT_SOURCE, and the predictor's own)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from .. import protocol
from ..records import _plain

log = logging.getLogger("oomguard")

MAX_FINDINGS = 200  # what the front end accepts in one message


class EditPredictions:
    def __init__(self, runtime):
        self.runtime = runtime
        self._lock = threading.Lock()

    def answer(self, request: dict) -> dict:
        """A `prediction` message for a validated `predict` request. Never raises."""
        started = time.perf_counter()
        request_id, cell_id = request.get("id", 0), request.get("cell_id")
        findings: list = []
        free: dict = {}
        note: Optional[str] = None
        try:
            if not self._lock.acquire(timeout=1.0):
                note = "another prediction is still being made"
            else:
                try:
                    findings, free, note = self._predict(request.get("source", ""))
                finally:
                    self._lock.release()
        except Exception:
            log.warning("oomguard: predicting an edited cell failed", exc_info=True)
            findings, note = [], "the prediction failed (see the kernel's log)"
        limit = free.get("limit")
        return protocol.prediction(
            request_id, cell_id, findings[:MAX_FINDINGS],
            {k: v for k, v in free.items() if k != "limit"},
            limit if isinstance(limit, int) else None,
            time.perf_counter() - started, note)

    def _predict(self, raw: str) -> tuple:
        guard = self.runtime.guard
        shell = guard.shell
        if shell is None:
            return [], {}, "oomguard is not hooked into IPython in this kernel"
        if guard.mode == "off":
            return [], {}, "the pre-run check is off (oomguard.enable(mode='off'))"
        if self.runtime.recorder.running_cell() is not None:
            return [], {}, "a cell is running; predicted once it ends"
        predictor = guard._precheck.predictor()
        if predictor is None:
            return [], {}, "the predictor is not available in this build"
        source = _transformed(shell, raw)
        if source is None:
            return [], {}, "the cell could not be read as Python"
        longest = _predictor_max_source()
        if longest is not None and len(source) > longest:
            return [], {}, f"the cell is too long to predict (over {longest} characters)"
        # As the pre-run check does: judge against the sampler's last reading, and measure
        # afresh only when there is something to judge.
        free = guard.free(fresh=False)
        findings = list(predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                                  vram_available=None) or [])
        if findings:
            free = guard.free(fresh=True)
            findings = list(predictor(source, shell.user_ns, ram_available=free.get("cpu"),
                                      vram_available=None) or [])
        # IPython drops a cell's leading blank lines before anything else: count them
        # back, so that lines are the cell's as the user sees it in the editor.
        shift = _leading_blank_lines(raw) - _leading_blank_lines(source)
        plain = []
        for finding in findings:
            finding = dict(_plain(finding))
            if isinstance(finding.get("line"), int):  # only what the editor can mark
                finding["line"] += max(0, shift)
                plain.append(finding)
        return plain, free, None


def _predictor_max_source() -> Optional[int]:
    try:
        from ..predict.engine import MAX_SOURCE
        return int(MAX_SOURCE)
    except Exception:  # a build without the predictor, or another one: no cap of ours
        return None


def _leading_blank_lines(source: str) -> int:
    count = 0
    for line in source.split("\n"):
        if line.strip():
            break
        count += 1
    return count


def _transformed(shell, raw: str) -> Optional[str]:
    """What IPython would compile (magics as Python, line numbers kept), as the pre-run
    check sees it; None where IPython's transformers refuse the cell."""
    try:
        source = shell.transform_cell(raw)
    except Exception:
        return None
    return source if isinstance(source, str) else None
