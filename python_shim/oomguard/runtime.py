"""The shim's state in this process: settings, the sampler and the comm bridge.

Everything reachable from user code (enable, disable, snapshot) is guarded here so that
a failure is logged and degrades to "not measured", never an exception in a cell."""
from __future__ import annotations

import logging
import math
import os
import platform
import threading
import warnings
from typing import Optional

from . import protocol
from .comm import CommBridge
from .probes.proc import hwm_resettable
from .readings import Readings
from .sampler import Sampler

log = logging.getLogger("oomguard")

DEFAULT_INTERVAL = 1.0


def _complain(message: str) -> None:
    """Tell the user about a bad argument without raising (even under -W error)."""
    log.warning(message)
    try:
        warnings.warn(message, stacklevel=5)  # the caller of oomguard.enable()
    except Exception:
        pass


class Runtime:
    def __init__(self, shim_version: str):
        self.shim_version = shim_version
        self.interval = DEFAULT_INTERVAL
        self.limit_setting: Optional[int] = None
        self._lock = threading.RLock()
        self._peak_method: Optional[str] = None
        self.readings = Readings()
        self.sampler = Sampler(self.take_reading, self.interval)
        self.bridge = CommBridge(self.hello, self.take_reading, self.apply_settings)
        self.sampler.add_sink(self.bridge.broadcast)

    def take_reading(self) -> dict:
        return self.readings.take(self.limit_setting)

    def snapshot(self) -> dict:
        message = protocol.sample(self.take_reading())
        del message["v"], message["type"]
        return message

    def hello(self) -> dict:
        if self._peak_method is None:
            self._peak_method = "hwm" if hwm_resettable() else "sampled"
        return protocol.hello(shim_version=self.shim_version, pid=os.getpid(),
                              interval=self.interval, python=platform.python_version(),
                              peak_method=self._peak_method)

    def apply_settings(self, settings: dict) -> None:
        with self._lock:
            for name, value in settings.items():
                if name == "interval":
                    if isinstance(value, bool) or not isinstance(value, (int, float)) \
                            or not math.isfinite(value):
                        _complain(f"oomguard: interval must be a number of seconds, "
                                  f"not {type(value).__name__}; kept {self.interval}")
                        continue
                    self.interval = protocol.clamp_interval(value)
                    self.sampler.set_interval(self.interval)
                elif name == "limit":
                    if value is None:
                        self.limit_setting = None
                    elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                            or not math.isfinite(value) or value <= 0:
                        _complain("oomguard: limit must be a positive number of bytes or None")
                    else:
                        self.limit_setting = int(value)
                else:
                    _complain(f"oomguard: unknown setting {name!r} ignored")

    def enable(self, **settings) -> None:
        with self._lock:
            self.apply_settings(settings)
            self.sampler.start()
            if not self.bridge.registered:
                self.bridge.register()

    def disable(self) -> None:
        with self._lock:
            self.sampler.stop()
            self.bridge.unregister()
