"""How much a running cell adds in one go, learned while it runs: the watchdog's margin.

The watchdog's interrupt lands at the cell's next Python bytecode, so a C call that
allocates a chunk (`torch.zeros(k, n)`, `np.ones`) finishes first: a loop of chunks ends
a chunk or more past the reading that fired. A fixed fraction of the limit leaves 5% of
it, less than one chunk on a small limit. So the watchdog acts at
`limit - K * step` when that comes before the configured fraction, where `step` is what
the cell has added in one go so far (docs/guard.md has the trial that chose K).

What one go is, per process, from /proc/<pid>/statm (one pread each, every poll), as
the rise of the process's resident high-water mark, measured two ways; the larger counts:

- between allocations: statm's `data` (private writable address space) rises by a
  chunk's whole size when the call that allocates it starts (malloc maps a big block at
  once), while the resident set follows page by page as the call writes it. A reading
  where `data` rose by a big block, or by half the step under way at least (other
  threads' small blocks made meanwhile do not count), starts a new step; the step is how far the high-water
  mark rises until the next one. A chunk loop's steps are its chunks, however many readings one
  takes. glibc maps a block of 32 MiB or more afresh, unless its heap has that much room
  from before (a kernel that once held more and freed it keeps the address space): for
  the kernel, glibc's own count of the bytes in use (probes/heap.py) rising the same
  way starts a step too, so chunks carved out of an old heap show as well.
- between readings: memory a process had freed and reuses (a heap with holes, items a
  worker loads into it) shows no rise of `data`; there the step is the rise between two
  readings. For the kernel it is scaled to the watchdog's fast poll (near the trigger it
  reads every FAST_POLL, and a small allocation is interrupted at once), unless the
  watchdog waited much longer than it asked (a C call held the GIL: what it added came
  in one go).

A loop that allocates and frees the same temporaries each time (a training step's
activations) stops raising its high-water mark, so its steps shrink to nothing; address
space mapped but never touched (thread stacks, malloc arenas) is no step either.

A step counts once the cell has made two of that size (the second largest): one big load
followed by small growth (`np.load`, then a training loop) must not move the trigger a
whole load lower and interrupt a cell that fits.

Child processes (DataLoader workers) count where the watchdog reads the container's
memory, which includes them. They are not interrupted with the cell: a worker finishes
what it was asked for (a DataLoader asks each worker for prefetch_factor = 2 items ahead
by default) and keeps what it holds. So each growing child is given CHILD_STEPS of its own
steps of margin, on top of the kernel's, unscaled: its growth goes on at its own pace."""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..probes.heap import heap_in_use
from ..probes.proc import ChildrenProbe
from ..probes.procself import ProcFile, own, parse_statm
from .watchdog import FAST_POLL

K = 2.5               # the kernel's steps of margin: the one in flight, one more, slack
CHILD_STEPS = 3       # a child's: the item it is on and the prefetched ones it goes on to
BIG_BLOCK = 32 << 20  # glibc's largest mmap threshold: a block this big is mapped afresh
MIN_JUMP = 4 << 20    # a rise of `data` smaller than this starts no step (Python's own
#                       1 MiB arenas, a thread's stack growing)
DISCOVERY = 0.25      # seconds between looks for new child processes
STARVED = 0.075       # a wait longer than this between readings: the GIL was held


class Largest:
    """The two largest of what it is given."""

    def __init__(self):
        self.first = 0
        self.second = 0

    def add(self, value: int) -> None:
        if value > self.first:
            self.first, self.second = value, self.first
        elif value > self.second:
            self.second = value


class Steps:
    """The steps of one process (see the module): between allocations, between readings."""

    def __init__(self):
        self._data: Optional[int] = None
        self._in_use: Optional[int] = None  # the heap's count (the kernel's only)
        self._high = 0       # resident high-water mark
        self._start = 0      # the high-water mark when the step under way began
        self.between_allocations = Largest()
        self.between_readings = Largest()

    def feed(self, data: int, resident: int, scale: float = 1.0,
             in_use: Optional[int] = None) -> None:
        """`in_use`: the heap's bytes in use (probes/heap.py), where it is read."""
        if self._data is None:
            self._data, self._high, self._start = data, resident, resident
            self._in_use = in_use
            return
        under_way = self._high - self._start
        if self._began(data - self._data, under_way) or (
                in_use is not None and self._in_use is not None
                and self._began(in_use - self._in_use, under_way)):
            self.between_allocations.add(under_way)
            self._start = self._high
        self._data, self._in_use = data, in_use
        if resident > self._high:
            self.between_readings.add(int((resident - self._high) * scale))
            self._high = resident

    @staticmethod
    def _began(jump: int, under_way: int) -> bool:
        """A new allocation: what is allocated rose by a big block (glibc maps those
        afresh), or by a block as big as half the step under way at least. Smaller rises
        are other threads' small blocks, made while a big call writes its pages: they must
        not cut its step in two."""
        return jump >= MIN_JUMP and (jump >= BIG_BLOCK or jump >= under_way // 2)

    @property
    def repeated(self) -> int:
        """The largest step made at least twice (the one under way counted as made)."""
        allocations = self.between_allocations
        under_way = self._high - self._start
        return max(sorted((allocations.first, allocations.second, under_way))[1],
                   self.between_readings.second)


class Growth:
    """Fed once per watchdog poll while one cell runs; `margin()` is how far below the
    limit the watchdog must act. `children`: also learn the kernel's descendant processes
    (when what the watchdog reads counts them). Never raises; close() when the cell ends."""

    def __init__(self, children: bool, pid: Optional[int] = None):
        # Made on the cell's path, so it only notes what to follow: the processes are
        # taken up at the first observe(), on the watchdog's thread at its first poll
        # (a cell shorter than that never has them). Until then every step is 0, as
        # after a first observe.
        self._pid = pid
        self._want_children = children
        # pid -> its statm, read with one pread; the kernel's own is procself's.
        self._files: Dict[int, Callable[[], Tuple[int, int]]] = {}
        self._steps: Dict[int, Steps] = {}
        self._children: Optional[ChildrenProbe] = None
        self._state = "new"  # "new", "observing", "closed"
        self._looked = 0.0
        self._observed: Optional[float] = None
        self._lock = threading.Lock()  # fed on the watchdog's thread, closed on the cell's
        self._heap = heap_in_use()

    def _start(self) -> None:
        if self._pid is None:
            self._pid = os.getpid()
        if self._want_children:
            self._children = ChildrenProbe(pid=self._pid)
        self._follow(self._pid)
        self._state = "observing"

    def _follow(self, pid: int) -> None:
        if pid == os.getpid():
            self._files[pid] = own().statm
        else:
            self._files[pid] = _Statm(pid)
        self._steps[pid] = Steps()

    def observe(self) -> None:
        with self._lock:
            self._observe()

    def _observe(self) -> None:
        if self._state != "observing":
            if self._state == "closed":
                return
            self._start()
        if self._children is not None and time.monotonic() - self._looked >= DISCOVERY:
            self._looked = time.monotonic()
            try:
                for pid in self._children.descendants():
                    if pid not in self._files:
                        self._follow(pid)
            except (OSError, ValueError):
                pass
        now = time.monotonic()
        waited = now - self._observed if self._observed is not None else 0.0
        self._observed = now
        # The kernel's rise between readings, as it would be between two fast polls.
        scale = 1.0 if waited > STARVED or waited <= 0 else min(1.0, FAST_POLL / waited)
        for pid, statm in list(self._files.items()):
            try:
                found = statm()
            except (OSError, ValueError, IndexError):  # ended (or unreadable): what it
                self._forget(pid)                       # held is given back
                continue
            if pid == self._pid:  # the heap's count is this process's own
                self._steps[pid].feed(*found, scale=scale, in_use=self._heap())
            else:
                self._steps[pid].feed(*found)

    def kernel_step(self) -> int:
        steps = self._steps.get(self._pid)
        return steps.repeated if steps is not None else 0

    def child_steps(self) -> List[int]:
        return [steps.repeated for pid, steps in self._steps.items()
                if pid != self._pid and steps.repeated > 0]

    def children(self) -> int:
        """Child processes being followed now."""
        return len(self._files) - (self._pid in self._files)

    def step(self) -> int:
        """What the cell (its child processes included) adds in one go."""
        return self.kernel_step() + sum(self.child_steps())

    def margin(self) -> int:
        return int(K * self.kernel_step() + CHILD_STEPS * sum(self.child_steps()))

    def _forget(self, pid: int) -> None:
        statm = self._files.pop(pid, None)
        self._steps.pop(pid, None)
        if isinstance(statm, _Statm):
            statm.close()

    def close(self) -> None:
        with self._lock:
            self._state = "closed"
            for pid in list(self._files):
                self._forget(pid)
            self._children = None


class _Statm(ProcFile):
    """A child process's statm: (data, resident) in bytes."""

    def __init__(self, pid: int):
        super().__init__(f"/proc/{pid}/statm")

    def __call__(self) -> Tuple[int, int]:
        return parse_statm(self.read(256))
