"""Leak hints after each cell, computed off the cell's path.

Sizing the namespace takes milliseconds, too much for post_run_cell (target: ≤ 1 ms per
cell). So the end of a cell only raises a flag, and the sampler thread does the work at
its next tick while no cell runs. Cells that follow each other faster than the sampler
interval are observed together, as one step."""
from __future__ import annotations

import logging
import threading
from typing import Callable, List, Optional

from .leaks import GrowthTracker, autograd_hints
from .sizes import variable_sizes

log = logging.getLogger("oomguard")

SIZE_BUDGET = 0.02  # seconds for the sizes of the namespace, on the sampler thread


class LeakWatch:
    def __init__(self, namespace: Callable[[], Optional[dict]],
                 cell_running: Callable[[], bool]):
        self._namespace = namespace
        self._cell_running = cell_running
        self._tracker = GrowthTracker()
        # A cell ended since the last look: a plain flag (the shell thread sets it, the
        # sampler's clears it), not an Event, whose lock and notify the cell would pay.
        self._pending = False
        self._lock = threading.Lock()
        self._hints: List[dict] = []
        self.on_hints: List[Callable[[List[dict]], None]] = []
        # Told the sizes of each look (execution count of the last cell, {name: bytes},
        # cut short?), so the front end can show what each variable grew by.
        self.on_sizes: List[Callable[[Optional[int], dict, bool], None]] = []
        self._last_count: Optional[int] = None

    @property
    def hints(self) -> List[dict]:
        with self._lock:
            return list(self._hints)

    def cell_finished(self, _record=None) -> None:
        """Recorder listener (shell thread): only a flag, the work comes later."""
        self._last_count = getattr(_record, "execution_count", None)
        self._pending = True

    def check(self, _reading=None) -> None:
        """Sampler sink: look at the namespace once after each cell, between cells."""
        if not self._pending or self._cell_running():
            return
        self._pending = False
        try:
            namespace = self._namespace()
            if namespace is None:
                return
            sizes, cut = variable_sizes(namespace, time_budget=SIZE_BUDGET)
            hints = self._tracker.observe(sizes) + autograd_hints(namespace)
        except Exception:
            log.warning("oomguard: leak check failed", exc_info=True)
            return
        for size_listener in list(self.on_sizes):
            try:
                size_listener(self._last_count, sizes, cut)
            except Exception:
                log.warning("oomguard: a size listener failed", exc_info=True)
        with self._lock:
            changed = hints != self._hints
            self._hints = hints
        if changed:
            for listener in list(self.on_hints):
                try:
                    listener(hints)
                except Exception:
                    log.warning("oomguard: a leak-hint listener failed", exc_info=True)
