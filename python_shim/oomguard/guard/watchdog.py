"""The runtime watchdog: a thread that, while a cell runs, reads the kernel's memory
every POLL seconds (FAST_POLL once near the trigger) and interrupts the cell when it
crosses the trigger.

Arming it costs a cell nothing but an assignment: the thread is not woken for it. While
cells come and go it polls on its own every POLL seconds whether one is armed (a few
microseconds when none is), so a cell's first reading comes within POLL of its start and
a short cell never has the thread bidding for the GIL on its account. After IDLE_AFTER
seconds without a cell it sleeps until the next arming wakes it: one wake-up after each
long pause, none per cell.

Why a thread of its own rather than the 1 s sampler: memory can grow by gigabytes in a
second, and the OOM killer does not wait. Reading /proc/self/statm (one pread on an open
file, probes/procself.py) costs a few microseconds, so polling 40 times a second while a cell runs is cheap;
between cells the thread sleeps on an Event.

Where it acts: at the configured fraction of the limit, or earlier when the cell's own
steps say so (growth.py): the step in flight when it fires runs to its end first.

How it interrupts: `_thread.interrupt_main()` raises KeyboardInterrupt in the main thread
at its next bytecode, exactly as the notebook's stop button does (ipykernel installs the
default SIGINT handler while a cell runs). A single C call that allocates (one huge
`torch.ones`) cannot be interrupted: the exception lands when it returns. The hard cap
(hardcap.py) covers that case."""
from __future__ import annotations

import _thread
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, List, Optional

from ..probes.procself import own

if TYPE_CHECKING:  # growth.py reads this module's FAST_POLL
    from .growth import Growth

log = logging.getLogger("oomguard")

THREAD_NAME = "oomguard-watchdog"
POLL = 0.025          # seconds between readings while a cell runs...
FAST_POLL = 0.005     # ...and once memory is near the trigger (see near_trigger)
MIN_FURTHER_GROWTH = 64 << 20  # bytes: the least growth that makes the watchdog act again
IDLE_AFTER = 60.0     # seconds without an armed cell before the thread sleeps until armed

Reader = Callable[[], Optional[int]]


@dataclass
class Arming:
    trigger: int          # bytes: interrupt at or above this (the latest it acts)...
    limit: int            # the session limit, for the message
    reader: Reader        # what counts against the limit (RSS or cgroup usage), in bytes
    what: str             # "the kernel's memory" / "the container's memory", for messages
    # ...or earlier, at limit - growth.margin(), where the cell's steps say the next one
    # would cross the limit first; never below `floor`.
    growth: Optional["Growth"] = None
    floor: int = 0
    fraction: int = 0     # where the configured fraction of the limit is (for messages)

    def trigger_now(self) -> int:
        if self.growth is None:
            return self.trigger
        return max(self.floor, min(self.trigger, self.limit - self.growth.margin()))


@dataclass
class Firing:
    reading: int
    arming: Arming
    at: float             # time.time()
    trigger: int = 0      # where it acted (Arming.trigger_now() then)
    step: int = 0         # the kernel's step it acted on (growth.py), bytes
    child_steps: int = 0  # its child processes' steps, summed
    children: int = 0     # child processes seen (where they count: the container's reading)


def near_trigger(reading: int, trigger: int) -> bool:
    """Within reach of the trigger in one slow poll: at page-fault speed (2-4 GiB/s) a
    cell allocates ~100 MiB in 25 ms, so closer than that (or 10% of the trigger on big
    limits)."""
    return trigger - reading < max(256 << 20, trigger // 10)


def further_growth_trigger(reading: int, limit: int, margin: int = 0, step: int = 0) -> int:
    """Where to act next when memory is already at `reading`, past the trigger: half-way
    from it to the limit, or sooner where the cell's steps (`margin`, growth.py) say the
    next would cross the limit first; always at least `further_floor` on. Used after a
    firing (a cell that caught the KeyboardInterrupt to save a checkpoint is not
    interrupted mid-save while it holds its memory, only if it grows on) and for a cell
    that starts above the trigger (so `del big` can run)."""
    return reading + max(further_floor(step),
                         min((limit - reading) // 2, limit - margin - reading))


def further_floor(step: int = 0) -> int:
    """The least further growth that makes the watchdog act again: MIN_FURTHER_GROWTH, or
    the cell's step (growth.py), which the call in flight when it fired completes
    before the interrupt lands; acting again on that would say the cell grew on."""
    return max(MIN_FURTHER_GROWTH, step)


def kernel_rss() -> Optional[int]:
    """The kernel's resident set (procself: one pread of statm), None where unreadable."""
    try:
        return own().rss()
    except (OSError, ValueError, IndexError):
        return None


class Watchdog:
    """arm() at cell start, disarm() at cell end (returns the Firing, if it fired).

    `on_fire(firing)` runs on the watchdog thread just before the interrupt (it records
    the reading into the cell's record); it must be quick and must not raise.
    `on_watching` listeners run on the watchdog thread at each poll of an armed cell
    (the comm sends a cell's `cell_start` from there once the cell has run a while);
    they must be quick."""

    def __init__(self, on_fire: Callable[[Firing], None], poll: float = POLL,
                 fast_poll: float = FAST_POLL, idle_after: float = IDLE_AFTER):
        self._on_fire = on_fire
        self._poll = poll
        self._fast_poll = fast_poll
        self._idle_after = idle_after
        self._sleeping = True  # waiting on _wake (only an arming wakes it), not polling
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._arming: Optional[Arming] = None
        self._firing: Optional[Firing] = None
        self._thread: Optional[threading.Thread] = None
        self.on_watching: List[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()
            self._sleeping = False  # it polls from its start (see _loop)
            self._wake.clear()
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
            before, self._arming, self._firing = self._arming, arming, None
            if self._sleeping:  # only after IDLE_AFTER seconds without a cell
                self._wake.set()
        if before is not None and before.growth is not None:
            before.growth.close()

    @property
    def armed(self) -> bool:
        return self._arming is not None

    def disarm(self) -> Optional[Firing]:
        """Stop watching; the cell's (last) firing, if it fired."""
        with self._lock:
            arming, self._arming = self._arming, None
            firing, self._firing = self._firing, None
        if arming is not None and arming.growth is not None:
            arming.growth.close()
        return firing

    def _loop(self, stop: threading.Event) -> None:
        last_armed = time.monotonic()
        while not stop.is_set():
            arming = self._arming
            if arming is None:
                if time.monotonic() - last_armed < self._idle_after:
                    stop.wait(self._poll)  # an arming is picked up at the next poll
                    continue
                with self._lock:
                    self._sleeping = self._arming is None
                    if not self._sleeping:
                        continue
                    self._wake.clear()
                self._wake.wait()
                with self._lock:
                    self._sleeping = False
                # The first reading comes one poll after the arming that woke it: at
                # arming the cell has not allocated anything yet.
                stop.wait(self._poll)
                continue
            last_armed = time.monotonic()
            near = False
            for listener in self.on_watching:
                try:
                    listener()
                except Exception:
                    log.warning("oomguard: a watchdog listener failed", exc_info=True)
            try:
                if arming.growth is not None:
                    arming.growth.observe()
                near = self._check(arming)
            except Exception:
                log.warning("oomguard: the watchdog failed a reading", exc_info=True)
            stop.wait(self._fast_poll if near else self._poll)

    def _check(self, arming: Arming) -> bool:
        """Read once, interrupt if past the trigger; True when near it (poll faster)."""
        reading = arming.reader()
        if reading is None:
            return False
        trigger = arming.trigger_now()
        if reading < trigger:
            return near_trigger(reading, trigger)  # read every FAST_POLL then
        with self._lock:
            if self._arming is not arming:
                return False  # the cell ended meanwhile: never interrupt the next one
            growth = arming.growth
            margin = growth.margin() if growth is not None else 0
            step = growth.step() if growth is not None else 0
            firing = Firing(reading, arming, time.time(), trigger,
                            growth.kernel_step() if growth is not None else 0,
                            sum(growth.child_steps()) if growth is not None else 0,
                            growth.children() if growth is not None else 0)
            self._firing = firing
            # The same cell is interrupted again only if it grows on (see
            # further_growth_trigger); the loop picks the new arming up at its next poll.
            further = further_growth_trigger(reading, arming.limit, margin, step)
            self._arming = replace(arming, trigger=further,
                                   floor=reading + further_floor(step))
            try:
                self._on_fire(firing)
            except Exception:
                log.warning("oomguard: recording the watchdog's reading failed", exc_info=True)
            # Under the lock, so disarm() (cell end) cannot slip in between check and fire.
            _thread.interrupt_main()
        return True
