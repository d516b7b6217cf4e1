"""Bookkeeping for one namespace scan: who owns which buffer, and the clock.

Every buffer (a numpy allocation, a torch storage, a container) is claimed by the
first variable that reaches it; later variables that reach it again count nothing for
it and are listed as sharing it (`shared_with`, both ways). The scan measures owners
before views, so `a` owns its buffer and `b = a[::2]` shares it."""
from __future__ import annotations

import time
from typing import Dict, Hashable, List, Optional, Set

from ..protocol import MAX_NOTES, MAX_SHARED
from .safe import clip
from ..units import format_bytes as human_bytes  # noqa: F401  (used by walk, leaks)

CLOCK_EVERY = 64  # items between looks at the clock



class Tally:
    """What one variable holds, gathered while it is walked. Its sets and dicts are
    made on first use: a scan may make thousands of tallies, and every long-lived
    container object brings the garbage collector closer to a full pass."""

    __slots__ = ("name", "obj", "kind", "order", "bytes", "grad_bytes", "device_bytes",
                 "dtypes", "notes", "truncated", "unmeasured", "items", "seen")

    def __init__(self, name: str, obj=None, kind: int = 0, order: int = 0):
        self.name = name
        self.obj = obj
        self.kind = kind
        self.order = order  # measuring order (owners first), then namespace order
        self.bytes = 0
        self.grad_bytes: Optional[int] = None  # stays None when no tensor was found
        self.device_bytes: Optional[Dict[str, int]] = None  # tensors and arrays only
        self.dtypes: Optional[Set[str]] = None
        self.notes: Optional[List[str]] = None
        self.truncated = False
        self.unmeasured = False  # some part could not be measured at all
        self.items = 0
        self.seen: Optional[Set[int]] = None  # ids walked in this variable

    @property
    def measured_bytes(self) -> Optional[int]:
        """bytes, or None when nothing of the variable could be measured."""
        return None if self.unmeasured and self.bytes == 0 else self.bytes

    def note(self, text: str) -> None:
        if self.notes is None:
            self.notes = []
        if text not in self.notes and len(self.notes) < MAX_NOTES:
            self.notes.append(clip(text))

    def add_dtype(self, dtype: str) -> None:
        if self.dtypes is None:
            self.dtypes = set()
        self.dtypes.add(dtype)

    def add_buffer(self, nbytes: int, device: str, grad: bool = False) -> None:
        self.bytes += nbytes
        if self.device_bytes is None:
            self.device_bytes = {}
        self.device_bytes[device] = self.device_bytes.get(device, 0) + nbytes
        if grad:
            self.grad_bytes = (self.grad_bytes or 0) + nbytes

    def main_device(self) -> Optional[str]:
        """The device holding most of the variable's array bytes; "cpu" when it holds
        only Python objects."""
        if not self.device_bytes:
            return "cpu" if self.bytes else None
        if len(self.device_bytes) > 1:
            self.note("Its tensors are on several devices: "
                      + ", ".join(sorted(self.device_bytes)) + ".")
        return max(self.device_bytes.items(), key=lambda item: (item[1], item[0]))[0]


class ScanState:
    def __init__(self, time_budget: float, max_items: int, max_depth: int,
                 max_columns: int):
        self.started = time.perf_counter()
        self.deadline = self.started + max(0.0, time_budget)
        self.max_items = max(1, int(max_items))
        self.max_depth = max(0, int(max_depth))
        self.max_columns = max(1, int(max_columns))
        self.claims: Dict[Hashable, str] = {}
        self.shared: Dict[str, Set[str]] = {}
        self.sharers: Dict[Hashable, List[str]] = {}  # keys reached by several names
        self.top_ids: Dict[int, str] = {}  # id of a top-level object -> its first name
        self.timed_out = False
        self._ticks = 0

    def out_of_time(self) -> bool:
        """Cheap enough to call per item: reads the clock every CLOCK_EVERY calls."""
        if self.timed_out:
            return True
        self._ticks += 1
        if self._ticks % CLOCK_EVERY == 0 and time.perf_counter() > self.deadline:
            self.timed_out = True
        return self.timed_out

    def past_deadline(self) -> bool:
        if not self.timed_out and time.perf_counter() > self.deadline:
            self.timed_out = True
        return self.timed_out

    def link(self, first: str, second: str) -> None:
        if first == second:
            return
        for one, other in ((first, second), (second, first)):
            names = self.shared.setdefault(one, set())
            if len(names) < MAX_SHARED:
                names.add(other)

    def share(self, key: Hashable, owner: str, name: str) -> None:
        """`name` reached what `owner` claimed: it shares with everyone who did."""
        if owner == name:
            return
        names = self.sharers.get(key)
        if names is None:
            names = self.sharers[key] = [owner]
        if name not in names and len(names) < MAX_SHARED:
            for other in names:
                self.link(other, name)
            names.append(name)

    def claim(self, tally: Tally, key: Hashable, nbytes: int) -> int:
        """The bytes this variable should count for the buffer `key`: all of them the
        first time any variable reaches it, nothing afterwards."""
        owner = self.claims.get(key)
        if owner is None:
            self.claims[key] = tally.name
            return nbytes
        self.share(key, owner, tally.name)
        return 0
