"""The runtime watchdog: a thread that, only while a cell runs, reads the kernel's memory
every POLL seconds (FAST_POLL once near the trigger) and interrupts the cell when it
crosses the trigger.

Why a thread of its own rather than the 1 s sampler: memory can grow by gigabytes in a
second, and the OOM killer does not wait. Reading /proc/self/statm (one pread on an open
file) costs a few microseconds, so polling 40 times a second while a cell runs is cheap;
between cells the thread sleeps on an Event.

How it interrupts: `_thread.interrupt_main()` raises KeyboardInterrupt in the main thread
at its next bytecode, exactly as the notebook's stop button does (ipykernel installs the
default SIGINT handler while a cell runs). A single C call that allocates (one huge
`torch.ones`) cannot be interrupted: the exception lands when it returns. The hard cap
(hardcap.py) covers that case."""
from __future__ import annotations

import _thread
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

log = logging.getLogger("oomguard")

THREAD_NAME = "oomguard-watchdog"
POLL = 0.025          # seconds between readings while a cell runs...
FAST_POLL = 0.005     # ...and once memory is near the trigger (see _near)
MIN_FURTHER_GROWTH = 64 << 20  # bytes: the least growth that makes the watchdog act again

Reader = Callable[[], Optional[int]]


@dataclass
class Arming:
    trigger: int          # bytes: interrupt at or above this
    limit: int            # the session limit, for the message
    reader: Reader        # what counts against the limit (RSS or cgroup usage), in bytes
    what: str             # "the kernel's memory" / "the container's memory", for messages


@dataclass
class Firing:
    reading: int
    arming: Arming
    at: float             # time.time()


def further_growth_trigger(reading: int, limit: int) -> int:
    """Where to act next when memory is already at `reading`, past the trigger: half-way
    from it to the limit (at least MIN_FURTHER_GROWTH further). Used after a firing (a
    cell that caught the KeyboardInterrupt to save a checkpoint is not interrupted
    mid-save while it holds its memory, only if it grows on) and for a cell that starts
    above the trigger (so `del big` can run)."""
    return reading + max(MIN_FURTHER_GROWTH, (limit - reading) // 2)


class StatmReader:
    """The kernel's resident set from /proc/self/statm: an open fd and one pread."""

    def __init__(self):
        self._fd: Optional[int] = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __call__(self) -> Optional[int]:
        try:
            if self._fd is None:
                self._fd = os.open("/proc/self/statm", os.O_RDONLY)
            fields = os.pread(self._fd, 256, 0).split()
            return int(fields[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


class Watchdog:
    """arm() at cell start, disarm() at cell end (returns the Firing, if it fired).

    `on_fire(firing)` runs on the watchdog thread just before the interrupt (it records
    the reading into the cell's record); it must be quick and must not raise."""

    def __init__(self, on_fire: Callable[[Firing], None], poll: float = POLL,
                 fast_poll: float = FAST_POLL):
        self._on_fire = on_fire
        self._poll = poll
        self._fast_poll = fast_poll
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._arming: Optional[Arming] = None
        self._firing: Optional[Firing] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,),
                                            name=THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._arming = None
            self._stop.set()
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def arm(self, arming: Arming) -> None:
        with self._lock:
            self._arming, self._firing = arming, None
            self._wake.set()

    @property
    def armed(self) -> bool:
        return self._arming is not None

    def disarm(self) -> Optional[Firing]:
        """Stop watching; the cell's (last) firing, if it fired."""
        with self._lock:
            self._arming = None
            firing, self._firing = self._firing, None
            return firing

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait()
            self._wake.clear()
            # The first reading comes one poll after arming: at arming the cell has not
            # allocated anything yet, and most cells are over before then, so a short
            # cell never has this thread waking up and bidding for the GIL.
            stop.wait(self._poll)
            while not stop.is_set():
                arming = self._arming
                if arming is None:
                    break
                near = False
                try:
                    near = self._check(arming)
                except Exception:
                    log.warning("oomguard: the watchdog failed a reading", exc_info=True)
                stop.wait(self._fast_poll if near else self._poll)

    @staticmethod
    def _near(reading: int, arming: Arming) -> bool:
        """Within reach of the trigger in one slow poll: at page-fault speed (2-4 GiB/s) a
        cell allocates ~100 MiB in 25 ms, so closer than that (or 10% of the trigger on big
        limits), read every 5 ms."""
        return arming.trigger - reading < max(256 << 20, arming.trigger // 10)

    def _check(self, arming: Arming) -> bool:
        """Read once, interrupt if past the trigger; True when near it (poll faster)."""
        reading = arming.reader()
        if reading is None:
            return False
        if reading < arming.trigger:
            return self._near(reading, arming)
        with self._lock:
            if self._arming is not arming:
                return False  # the cell ended meanwhile: never interrupt the next one
            firing = Firing(reading, arming, time.time())
            self._firing = firing
            # The same cell is interrupted again only if it grows on (see
            # further_growth_trigger); the loop picks the new arming up at its next poll.
            self._arming = replace(arming,
                                   trigger=further_growth_trigger(reading, arming.limit))
            try:
                self._on_fire(firing)
            except Exception:
                log.warning("oomguard: recording the watchdog's reading failed", exc_info=True)
            # Under the lock, so disarm() (cell end) cannot slip in between check and fire.
            _thread.interrupt_main()
        return True
