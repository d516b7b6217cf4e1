"""What every cluster engine hands the watch (watch.py): samples, worker events and the
reason a sample could not be taken."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple


class NotMeasured(Exception):
    """A sample or a look-up that could not be made; `reason` goes into a note."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ClusterSample:
    t: float                              # epoch seconds, when the answer came
    scheduler: Optional[str]
    n_workers: int
    workers: Dict[str, Optional[int]]     # address -> process memory (RSS), bytes
    limits: Dict[str, Optional[int]]      # address -> memory limit, bytes (None: none)
    notes: Tuple[str, ...] = ()

    @property
    def total(self) -> Optional[int]:
        """The workers' memory together; None when none of them was measured."""
        known = [m for m in self.workers.values() if m is not None]
        if not known:
            return 0 if self.n_workers == 0 else None
        return sum(known)

    @property
    def limit(self) -> Optional[int]:
        """The workers' limits together; None unless every worker has one."""
        limits = list(self.limits.values())
        if not limits or any(not isinstance(v, int) or v <= 0 for v in limits):
            return None
        return sum(limits)


@dataclass
class WorkerEvent:
    """A worker that was restarted for memory or lost during a cell."""
    kind: str                             # "restarted" or "lost"
    worker: str                           # its address
    reason: str                           # in the cluster's words, made plain
    t: Optional[float]                    # epoch seconds on the cluster's clock
    rss: Optional[int] = None             # its memory when it was stopped, bytes
    limit: Optional[int] = None           # its memory limit, bytes
    task: Optional[str] = None            # the task it was running, when known
    idle: bool = False                    # it happened while no cell ran
    error: Optional[str] = None           # the cell's exception that named it (its type)
    extra: Dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict:
        entry = {"worker": self.worker, "reason": self.reason, "t": self.t,
                 "rss": self.rss, "limit": self.limit, "task": self.task}
        if self.idle:
            entry["idle"] = True
        entry.update(self.extra)
        return entry
