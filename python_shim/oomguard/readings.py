"""One reading of everything a `sample` message carries, built from the probes."""
from __future__ import annotations

import os
import time
from typing import List, Optional

from .probes.gpu import GpuProbe
from .probes.limits import LimitProbe
from .probes.proc import PROC, ChildrenProbe, process_memory, read_statm_rss


class Readings:
    def __init__(self, root: str = "/"):
        self.proc_root = PROC if root == "/" else os.path.join(root, "proc")
        self.children = ChildrenProbe(self.proc_root)
        self.limits = LimitProbe(root)
        self.gpus = GpuProbe(root)

    def take(self, limit_setting: Optional[int] = None) -> dict:
        notes: List[str] = []
        t = time.time()
        try:
            rss = read_statm_rss(self.proc_root)
        except (OSError, ValueError, IndexError):
            rss, _hwm = process_memory(self.proc_root, notes)  # status, or psutil, or None
        children_rss = self.children.children_rss(notes)
        reading = self.limits.read(limit_setting, notes)
        gpus = self.gpus.read(notes)  # cached / off the main thread: see probes/gpu.py
        reading.update(t=t, rss=rss, children_rss=children_rss, gpus=gpus,
                       notes=list(dict.fromkeys(notes)))  # same note once, order kept
        return reading
