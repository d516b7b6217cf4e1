"""The Prometheus collector: at each scrape of the server's /metrics, the ledger is
brought up to date from the kernel manager's list and the kernels' state files, and
its figures are given as metric families (docs/fleet.md lists them).

Labels are bounded: the kernel id (one per kernel the server runs), the limit's source
and the cell status (fixed sets, checked by statefile.parse_state) and the GPU index.
Nothing a user typed ever becomes a label."""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Iterable, List, Optional, Tuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from traitlets import Float
from traitlets.config import LoggingConfigurable

from ..statefile import CELL_STATUSES, connection_stem
from .ledger import Kernel, Ledger

FAMILIES = (
    # (name, type, help, labels)
    ("oomguard_kernel_rss_bytes", "gauge",
     "The kernel process's resident memory.", ("kernel_id",)),
    ("oomguard_kernel_limit_bytes", "gauge",
     "The session's memory limit as the kernel sees it, and where it comes from.",
     ("kernel_id", "source")),
    ("oomguard_kernel_cell_peak_bytes", "gauge",
     "The exact peak resident memory of the kernel's last finished cell.", ("kernel_id",)),
    ("oomguard_cells", "counter", "Cells run in the kernel, by outcome.",
     ("kernel_id", "status")),
    ("oomguard_watchdog_interrupts", "counter",
     "Cells interrupted by oomguard's watchdog near the memory limit.", ("kernel_id",)),
    ("oomguard_predicted_risky_cells", "counter",
     "Cells predicted, before they ran, not to fit in free memory.", ("kernel_id",)),
    ("oomguard_oom_kills", "counter",
     "Kernel processes that died with the memory cgroup's OOM-kill count risen.",
     ("kernel_id",)),
    ("oomguard_gpu_used_bytes", "gauge",
     "Memory in use on each GPU the kernel sees (all processes on that GPU).",
     ("kernel_id", "gpu")),
)

log = logging.getLogger("oomguard")


def listed_kernels(kernel_manager) -> List[Kernel]:
    """The manager's kernels that have a connection file of a name we write beside.
    Synchronous and local: nothing here talks to a kernel."""
    kernels = []
    for kernel_id in list(kernel_manager.list_kernel_ids()):
        try:
            connection_file = kernel_manager.get_kernel(kernel_id).connection_file
        except KeyError:
            continue  # removed while we looked
        place = _place(connection_file)
        if place is not None:
            kernels.append(Kernel(kernel_id, *place))
    return kernels


@functools.lru_cache(maxsize=4096)
def _place(connection_file: str) -> Optional[Tuple[str, str]]:
    """(directory, stem) of a connection file, or None (asked again at every scrape)."""
    stem = connection_stem(connection_file)
    if stem is None:
        return None
    return os.path.dirname(os.path.abspath(connection_file)), stem


class OomguardMetrics(LoggingConfigurable):
    """A prometheus_client collector over the server's kernels (register it with
    `register`). Configure as `OomguardMetrics.oom_kills_retention` in the server's
    config."""

    oom_kills_retention = Float(
        900.0, config=True,
        help="Seconds that the OOM-kill count of a kernel the server no longer runs stays "
             "published (only when above zero), so that a scrape sees its last value.")

    def __init__(self, kernel_manager, **kwargs):
        super().__init__(**kwargs)
        self.kernel_manager = kernel_manager
        self.ledger = Ledger(self.oom_kills_retention)
        self._lock = threading.Lock()
        self._registry = None
        self._failed = False

    def register(self, registry) -> None:
        registry.register(self)
        self._registry = registry

    def unregister(self) -> None:
        registry, self._registry = self._registry, None
        if registry is not None:
            registry.unregister(self)
        with self._lock:
            self.ledger.close()

    def describe(self) -> Iterable[Metric]:
        return _families()  # names and types only: the registry need not collect

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                families = self._collect(time.time())
                self._failed = False
                return families
            except Exception:
                if not self._failed:  # once per run of failures, not at every scrape
                    log.warning("oomguard: kernel metrics could not be collected",
                                exc_info=True)
                self._failed = True
                return []

    def _collect(self, now: float) -> List[Metric]:
        self.ledger.refresh(listed_kernels(self.kernel_manager), now)
        (rss, limit, peak, cells, interrupts, risky, oom_kills, gpus) = families = _families()
        for book in self.ledger.listed():
            kernel_id = book.kernel_id
            counts = book.counters()
            for status in CELL_STATUSES:
                cells.add_metric((kernel_id, status), counts[status])
            interrupts.add_metric((kernel_id,), counts["watchdog_interrupts"])
            risky.add_metric((kernel_id,), counts["risky_cells"])
            oom_kills.add_metric((kernel_id,), book.oom_kills)
            state = book.gauges(now)
            if state is None:
                continue
            if state.rss is not None:
                rss.add_metric((kernel_id,), state.rss)
            if state.limit is not None:
                limit.add_metric((kernel_id, state.limit_source), state.limit)
            if state.cell_peak is not None:
                peak.add_metric((kernel_id,), state.cell_peak)
            for index, used in state.gpus:
                gpus.add_metric((kernel_id, str(index)), used)
        for book in self.ledger.gone(now):
            oom_kills.add_metric((book.kernel_id,), book.oom_kills)
        return list(families)


def _families() -> List[Metric]:
    families = []
    for name, kind, help_text, labels in FAMILIES:
        family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
        families.append(family(name, help_text, labels=labels))
    return families
