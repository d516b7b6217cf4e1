"""What the server knows about each of its kernels with oomguard, kept across the kernel's
processes: the figures of the process running now, the counts of the processes that
ended (a restart replaces the process, the kernel id stays), and how many of those ended
with the OOM killer's count risen. docs/fleet.md states the rules; in short:

- A kernel has series once one of its processes wrote a state file; never before.
- Gauges come from the process running now, while it samples and its file is fresh.
- Counters are per kernel id and never go back: when a process ends, its last counts
  join the kernel's (read from the file it left), and the file is removed.
- A process that ended is an OOM kill when it did not exit normally (its last state
  would say so) and the OOM killer's count of its memory cgroup, read now, is above the
  count in its last state (the panel's post-mortem judges the same way,
  src/model/postMortem.ts). Each ended process is judged once.
- A kernel the manager no longer lists (shut down, culled, or dead for good) loses its
  series at once, except `oom_kills` when above zero: kept, unchanged, for
  `oom_kills_retention` seconds so that a scrape sees the last count."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from ..statefile import CELL_STATUSES, KernelState
from .reading import Liveness, StateReader, list_state_files, read_oom_kills_file

COUNTERS = CELL_STATUSES + ("watchdog_interrupts", "risky_cells")
STALE_MIN_S = 30.0  # a live process's gauges go when its file is older than this...
STALE_INTERVALS = 5  # ...or this many of its sampling intervals, whichever is longer


@dataclass
class Kernel:
    """One kernel as the server's kernel manager lists it."""

    kernel_id: str
    directory: str  # of its connection file
    stem: str       # its connection file's name, less .json


def counts_of(state: KernelState) -> Dict[str, int]:
    counts = {status: state.cells.get(status) or 0 for status in CELL_STATUSES}
    counts["watchdog_interrupts"] = state.watchdog_interrupts or 0
    counts["risky_cells"] = state.risky_cells or 0
    return counts


def fresh(state: KernelState, now: float) -> bool:
    if state.t is None:
        return False
    return abs(now - state.t) <= max(STALE_MIN_S, STALE_INTERVALS * state.interval)


@dataclass
class KernelBook:
    kernel_id: str
    directory: str
    stem: str
    ended: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    oom_kills: int = 0
    live: Optional[KernelState] = None
    judged: Set[Tuple[int, Optional[int]]] = field(default_factory=set)  # (pid, start)
    gone_at: Optional[float] = None  # when the manager stopped listing it

    def counters(self) -> Dict[str, int]:
        """The kernel's counts: every ended process's plus the live one's."""
        if self.live is None:
            return dict(self.ended)
        live = counts_of(self.live)
        return {name: self.ended[name] + live[name] for name in COUNTERS}

    def gauges(self, now: float) -> Optional[KernelState]:
        """The live process's state where its readings may be shown, else None."""
        live = self.live
        if live is None or not live.sampling or not fresh(live, now):
            return None
        return live

    def update(self, files: List[str], reader: StateReader, liveness: Liveness) -> int:
        """Take this scrape's files: the live process's, and those of ended processes
        (judged, added to the counts, removed). Returns how many files are left."""
        live, ended, left = None, [], 0
        for path in files:
            state = reader.read(path)
            if state is None:
                left += 1  # not (yet) a valid state file: left alone
            elif (state.pid, state.start_ticks) in self.judged:
                _remove(path, reader)  # its counts are in already
            elif liveness.alive(state):
                left += 1
                if live is None or (state.t or 0) > (live.t or 0):
                    live = state
            else:
                ended.append((path, state))
        self.live = live
        for path, state in ended:
            self._end(state)
            _remove(path, reader)
        return left

    def _end(self, state: KernelState) -> None:
        for name, count in counts_of(state).items():
            self.ended[name] += count
        if self._oom_killed(state):
            self.oom_kills += 1
        self.judged.add((state.pid, state.start_ticks))

    def _oom_killed(self, state: KernelState) -> bool:
        before, path = state.oom_kills, state.oom_kills_file
        if state.exited:
            return False  # it said so on its way out: a shutdown or a restart
        if before is None or path is None:
            return False  # it had no counter: not confirmed, as in the panel
        now = read_oom_kills_file(path)
        live = self.live
        if now is None and live is not None and live.oom_kills_file == path:
            now = live.oom_kills  # the successor reads the same counter
        return now is not None and now > before


class Ledger:
    """The books of all kernels, brought up to date at each scrape by `refresh`."""

    def __init__(self, oom_kills_retention: float = 900.0):
        self.oom_kills_retention = oom_kills_retention
        self.books: Dict[str, KernelBook] = {}
        self.reader = StateReader()
        self.liveness = Liveness()

    def refresh(self, kernels: List[Kernel], now: float) -> None:
        listed = {kernel.kernel_id: kernel for kernel in kernels}
        gone = [book for kernel_id, book in self.books.items() if kernel_id not in listed]
        listing = list_state_files([k.directory for k in kernels] +
                                   [book.directory for book in gone])
        for kernel in kernels:
            files = listing.get((kernel.directory, kernel.stem), [])
            book = self.books.get(kernel.kernel_id)
            if book is None or (book.directory, book.stem) != (kernel.directory, kernel.stem):
                if not files:
                    continue  # no oomguard in this kernel (yet): no series
                book = self.books[kernel.kernel_id] = KernelBook(
                    kernel.kernel_id, kernel.directory, kernel.stem)
            book.update(files, self.reader, self.liveness)
        for book in gone:
            if book.gone_at is None:
                book.gone_at = now
            left = book.update(listing.get((book.directory, book.stem), []), self.reader,
                               self.liveness)
            book.live = None  # a process still shutting down shows nothing more
            if now - book.gone_at > self.oom_kills_retention or \
                    (book.oom_kills == 0 and not left):
                del self.books[book.kernel_id]
        self.reader.keep_only(path for files in listing.values() for path in files)
        self.liveness.keep_only((book.live.pid, book.live.start_ticks)
                                for book in self.books.values() if book.live is not None)

    def close(self) -> None:
        self.liveness.close()

    def listed(self) -> List[KernelBook]:
        return [book for book in self.books.values() if book.gone_at is None]

    def gone(self, now: float) -> List[KernelBook]:
        """Kernels no longer listed whose OOM-kill count is still shown."""
        return [book for book in self.books.values() if book.gone_at is not None
                and book.oom_kills > 0 and now - book.gone_at <= self.oom_kills_retention]


def _remove(path: str, reader: StateReader) -> None:
    reader.forget(path)
    directory, name = os.path.split(path)
    for victim in (path, os.path.join(directory, f".{name}.tmp")):
        try:
            os.unlink(victim)
        except OSError:
            pass
