"""The predictor's time budget and the memory it judges findings against."""
from __future__ import annotations

import logging
import time
from typing import Dict, Optional, Union

from ..probes.limits import LimitProbe
from ..probes.torch_cuda import initialised_cuda

log = logging.getLogger("oomguard")

BUDGET_S = 0.05  # a cell waits for the predictor: past this it gives up silently


class OutOfTime(Exception):
    pass


class Budget:
    def __init__(self, seconds: float = BUDGET_S):
        self.deadline = time.perf_counter() + seconds

    def check(self) -> None:
        if time.perf_counter() > self.deadline:
            raise OutOfTime()

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def ram_free() -> Optional[int]:
    """Free RAM under the session's limit (limit - used), or None if unmeasured."""
    try:
        free = LimitProbe().read().get("free")
        return free if type(free) is int else None
    except Exception:
        log.debug("oomguard: free RAM could not be read for the predictor", exc_info=True)
        return None


def vram_free(device: str) -> Optional[int]:
    """Free VRAM from torch.cuda.mem_get_info, only where the user's code initialised
    CUDA (asking otherwise would create a context, hundreds of MiB)."""
    cuda = initialised_cuda()
    if cuda is None or not device.startswith("cuda"):
        return None
    try:
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        free, _total = cuda.mem_get_info(index)
        return int(free)
    except Exception:
        return None


class Available:
    """What is free per device: the caller's figures first, else measured on demand."""

    def __init__(self, ram: Optional[int], vram: Union[int, Dict, None]):
        self.ram = ram
        self.vram = vram
        self._measured: Dict[str, Optional[int]] = {}

    def on(self, device: str) -> Optional[int]:
        if device == "cpu":
            if self.ram is not None:
                return int(self.ram)
            return self._measure(device, ram_free)
        if not device.startswith("cuda"):
            return None
        if isinstance(self.vram, dict):
            index = device.split(":", 1)[1] if ":" in device else "0"
            for key in (device, index, _as_int(index)):
                if key in self.vram and self.vram[key] is not None:
                    return int(self.vram[key])
            return None
        if self.vram is not None:
            return int(self.vram)
        return self._measure(device, vram_free)

    def _measure(self, device: str, reader) -> Optional[int]:
        if device not in self._measured:
            self._measured[device] = reader(device) if reader is vram_free else reader()
        return self._measured[device]


def _as_int(text: str):
    try:
        return int(text)
    except ValueError:
        return None
