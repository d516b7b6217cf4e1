"""The sampler thread: takes a reading every `interval` seconds and hands it to sinks.

It waits on an Event between readings (no busy loop, no GIL contention) and needs the
GIL only for the few file reads of a reading, so it keeps running while a cell computes.
It never raises: failures are logged once per kind and sampling goes on."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional

from .protocol import clamp_interval
from .settings import is_number

log = logging.getLogger("oomguard")

THREAD_NAME = "oomguard-sampler"
Sink = Callable[[dict], None]


class _Run:
    """State of one thread's life, so a stop() followed by start() cannot confuse them."""

    def __init__(self):
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.thread: Optional[threading.Thread] = None


class Sampler:
    """Owns the `interval` setting (seconds between readings, clamped to the protocol's
    bounds). `pace`, where given, says after each reading how many seconds to wait for the
    next (instead of the interval); `name` names the thread."""

    SETTINGS = ("interval",)

    def __init__(self, take_reading: Callable[[], dict], interval: float = 1.0, *,
                 pace: Optional[Callable[[], float]] = None, name: str = THREAD_NAME):
        self._take_reading = take_reading
        self._interval = interval
        self._pace = pace
        self._name = name
        self._sinks: List[Sink] = []
        self._lock = threading.Lock()
        self._run: Optional[_Run] = None
        self._logged: set = set()
        self.latest: Optional[dict] = None  # the last reading, for whoever needs one now

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def running(self) -> bool:
        run = self._run
        return run is not None and run.thread is not None and run.thread.is_alive()

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if not is_number(value):
            complain(f"oomguard: interval must be a number of seconds, not "
                     f"{type(value).__name__}; kept {self._interval}")
            return
        self.set_interval(clamp_interval(value))

    def set_interval(self, seconds: float) -> None:
        self._interval = seconds
        run = self._run
        if run is not None:
            run.wake.set()  # apply at once rather than after the old interval

    def add_sink(self, sink: Sink) -> None:
        with self._lock:
            if sink not in self._sinks:
                self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            run = _Run()
            run.thread = threading.Thread(target=self._loop, args=(run,), name=self._name,
                                          daemon=True)  # never keeps a dying kernel alive
            self._run = run
            run.thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._lock:
            run, self._run = self._run, None
        if run is None:
            return
        run.stop.set()
        run.wake.set()
        if run.thread is not None and run.thread is not threading.current_thread():
            run.thread.join(timeout)

    def _loop(self, run: _Run) -> None:
        while not run.stop.is_set():
            started = time.monotonic()
            self.tick()
            every = self._interval
            if self._pace is not None:
                try:
                    every = self._pace()
                except Exception as exc:
                    self.log_once("pace", exc)
            # Keep the cadence: a slow reading shortens the wait instead of adding to it.
            if run.wake.wait(max(0.0, every - (time.monotonic() - started))):
                run.wake.clear()

    def tick(self) -> None:
        try:
            reading = self._take_reading()
        except Exception as exc:
            self.log_once("reading", exc)
            return
        self.latest = reading
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink(reading)
            except Exception as exc:
                self.log_once("sink", exc)

    def log_once(self, where: str, exc: Exception) -> None:
        """Log a failure with its traceback, once per place and kind of exception."""
        kind = (where, type(exc).__name__)
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("%s: %s failed (%s); further failures of this kind "
                        "are not logged", self._name, where, type(exc).__name__,
                        exc_info=True)
