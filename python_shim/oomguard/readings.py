"""One reading of everything a `sample` message carries, built from the probes; and the
limit figures the guard and the text summary judge by. Owns the `limit` setting (the
user's own limit, used where smaller than the real one)."""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, List, Optional

from .probes.gpu import GpuProbe
from .probes.limits import LimitProbe
from .probes.proc import ChildrenProbe, process_memory
from .probes.procself import PROC, ProcSelf, own
from .settings import is_number


class Readings:
    SETTINGS = ("limit",)

    def __init__(self, root: str = "/"):
        self.proc_root = PROC if root == "/" else os.path.join(root, "proc")
        self.own = own() if self.proc_root == PROC else ProcSelf(self.proc_root)
        self.children = ChildrenProbe(self.proc_root)
        self.limits = LimitProbe(root)
        self.gpus = GpuProbe(root)
        self.limit_setting: Optional[int] = None
        # The last limit figures read, with when and under which setting (limits_recent).
        self._recent = (0.0, None, None)
        self._lock = threading.Lock()

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if value is None:
            self.limit_setting = None
        elif not is_number(value) or value <= 0:
            complain("oomguard: limit must be a positive number of bytes or None")
        else:
            self.limit_setting = int(value)

    def take(self) -> dict:
        notes: List[str] = []
        t = time.time()
        setting = self.limit_setting
        try:
            rss = self.own.rss()
        except (OSError, ValueError, IndexError):
            rss, _hwm = process_memory(self.proc_root, notes)  # status, or psutil, or None
        children_rss = self.children.children_rss(notes)
        reading = self.limits.read(setting, notes)
        gpus = self.gpus.read(notes)  # cached / off the main thread: see probes/gpu.py
        reading.update(t=t, rss=rss, children_rss=children_rss, gpus=gpus,
                       notes=list(dict.fromkeys(notes)))  # same note once, order kept
        self._remember(setting, reading)
        return reading

    def limits_now(self) -> dict:
        """The limit and what counts against it, measured now (a few small files)."""
        setting = self.limit_setting
        reading = self.limits.read(setting, [])
        self._remember(setting, reading)
        return reading

    def limits_recent(self, max_age: float) -> dict:
        """The limit figures read at most `max_age` seconds ago under the current
        setting (the sampler reads them every interval), else measured now. For the
        cell's path, which should not read files another thread has just read."""
        when, setting, reading = self._recent
        if reading is None or setting != self.limit_setting or \
                time.monotonic() - when > max_age:
            return self.limits_now()
        return reading

    def limits_moved(self, rss_now: Optional[int], max_age: float) -> dict:
        """limits_recent(), with `used` and `free` moved by what the kernel's RSS changed
        since (where that reading has the kernel's RSS): a cell's own change, without
        reading the limit's files again at its end. Other processes' changes since then
        are not in it, as in any sampled figure."""
        reading = self.limits_recent(max_age)
        used, rss_then, limit = reading.get("used"), reading.get("rss"), reading.get("limit")
        if not (isinstance(used, int) and isinstance(rss_then, int) and
                isinstance(rss_now, int)):
            return reading
        moved = dict(reading, used=max(0, used + rss_now - rss_then))
        if isinstance(limit, int):
            moved["free"] = max(0, limit - moved["used"])
        return moved

    def container_usage(self) -> Optional[int]:
        """The memory cgroup's usage (its working set), measured now; None without one."""
        reading, _notes = self.limits.cgroup.read()
        return reading.usage if reading is not None else None

    def _remember(self, setting: Optional[int], reading: dict) -> None:
        with self._lock:
            self._recent = (time.monotonic(), setting, reading)
