"""Predictions while a cell is edited: the answer to a front end's `predict` request.

The front end sends the cell being edited while the kernel is idle; the kernel answers
with the predictor's findings so risky lines can be marked before the cell runs. The
predictor is the one the pre-run check uses (Guard.predictor or oomguard.predict), with
the same inputs: the cell as IPython compiles it and the user's namespace, read through
the predictor's safe reads (no repr, no imports the user did not make). The cell is
transformed by IPython's static transformers only (precheck.static_transform), never
`shell.transform_cell`, whose prefilter reads user objects (and with %autocall rewrites
calls) for a cell the user has not run.

Comm messages reach the kernel on the shell thread when it is idle, or on a subshell
thread at any time. So an edit-time prediction:
- gives way to the pre-run check, which never waits for it (precheck.py): edit-time
  predictions take turns among themselves only (PreCheck.edit_turn), and one that sees a
  cell start stops between its passes;
- never touches gc (gc.disable() is process-wide: a cell starting on the main thread
  meanwhile would run with the collector off, or on where the user turned it off);
- is not made while a cell runs, and is thrown away if a cell started while it was
  being made (Guard.cells_started before and after): its namespace changed under it.
  The front end asks again when the kernel is idle.
The last prediction is kept for the pre-run check, which reuses it where the cell runs
as it was predicted against the same namespace (precheck.py).
The namespace is read in place, not copied: the predictor only looks names up (each
lookup guarded), never iterates it, and a cell mutating it is caught by the count above.
The predictor has its own time budget; ast.parse, which it cannot interrupt, is bounded
by the source size cap (protocol.MAX_PREDICT_SOURCE, and the predictor's own)."""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from .. import protocol
from ..records import _plain
from .precheck import static_transform

log = logging.getLogger("oomguard")

LOCK_WAIT_S = 1.0  # for another edit-time prediction to finish
BUSY_NOTE = "another prediction is still being made"
CELL_STARTED_NOTE = "a cell started while predicting; predicted once it ends"


class EditPredictions:
    """Answers `predict` requests with `guard`'s predictions; `running_cell()` is the
    recorder's (None between cells)."""

    def __init__(self, guard, running_cell: Callable[[], Optional[dict]]):
        self.guard = guard
        self._running_cell = running_cell

    def answer(self, request: dict) -> dict:
        """A `prediction` message for a validated `predict` request. Never raises."""
        started = time.perf_counter()
        request_id, cell_id = request.get("id", 0), request.get("cell_id")
        findings: list = []
        free: dict = {}
        note: Optional[str] = None
        try:
            findings, free, note = self._predict(request.get("source", ""))
        except Exception:
            log.warning("oomguard: predicting an edited cell failed", exc_info=True)
            findings, free, note = [], {}, "the prediction failed (see the kernel's log)"
        limit = free.get("limit")
        return protocol.prediction(
            request_id, cell_id, findings,
            {k: v for k, v in free.items() if k != "limit"},
            limit if isinstance(limit, int) else None,
            time.perf_counter() - started, note)

    def _predict(self, raw: str) -> tuple:
        guard = self.guard
        shell = guard.shell
        if shell is None:
            return [], {}, "oomguard is not hooked into IPython in this kernel"
        if guard.mode == "off":
            return [], {}, "the pre-run check is off (oomguard.enable(mode='off'))"
        cells_started = guard.cells_started  # read first: a cell may start from here on
        if self._running_cell() is not None:
            return [], {}, "a cell is running; predicted once it ends"
        if not guard.has_predictor():
            return [], {}, "the predictor is not available in this build"
        source = static_transform(raw)
        if source is None:
            return [], {}, "the cell could not be read as Python"
        longest = _predictor_max_source()
        if longest is not None and len(source) > longest:
            return [], {}, f"the cell is too long to predict (over {longest} characters)"
        started = lambda: guard.cells_started != cells_started  # noqa: E731
        predicted = guard.predict_for_editor(source, wait=LOCK_WAIT_S, cell_started=started)
        if started():
            return [], {}, CELL_STARTED_NOTE
        if predicted is None:
            return [], {}, BUSY_NOTE
        findings, free = predicted
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
