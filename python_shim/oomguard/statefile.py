"""The kernel's state file: what a Jupyter server publishes about this kernel on its
Prometheus endpoint (serverext/, docs/fleet.md).

One small JSON object per kernel process, next to the kernel's connection file (the
Jupyter runtime directory), named from that file and this process's pid:
``oomguard-state-<connection file's name less .json>-<pid>.json``. The server finds a
kernel's files from the connection file its own kernel manager holds; the pid in the
name keeps a dead process's last figures apart from those of the process that replaces
it after a restart, so the server can add them to the kernel's counters and judge
whether the OOM killer ended it.

Written by the sampler thread only (never on a cell's path), at most once a second
unless a cell finished: a temp file in the same directory, then a rename (no fsync:
what a killed process wrote belongs to the operating system). The file is the owner's
only, created without following links, in a directory that must be ours and writable by
no one else (a connection file in /tmp, as jupyter_client alone makes one, gets no state
file: no server reads there). Any failure turns the state file off for good, with one
message on the ``oomguard`` logger; nothing else in oomguard depends on it.

`parse_state` is the one reader of the format: the server validates every field with
it, so a bad field costs that figure only."""
from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from .guard.text import field as finding_field
from .probes.limits import LIMIT_SOURCES
from .probes.proc import read_stat_identity

log = logging.getLogger("oomguard")

STATE_FORMAT = "oomguard-state"
STATE_VERSION = 1
PREFIX = "oomguard-state-"
CELL_STATUSES = ("ok", "error", "blocked", "interrupted")
MIN_PERIOD = 1.0  # seconds between writes when no cell finished meanwhile
MAX_BYTES = 16 * 1024  # a reader refuses anything longer
MAX_GPUS = 64
MAX_PATH = 4096
MAX_PID = 2 ** 31 - 1
MAX_COUNT = 2 ** 63 - 1
ORPHAN_AGE_S = 24 * 3600  # a dead process's file older than this is nobody's any more

_STEM = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
STEM_RE = re.compile(rf"^{_STEM}$")
# The stem is greedy, so a stem with dashes and digits in it still ends at the last "-".
NAME_RE = re.compile(rf"^{re.escape(PREFIX)}(?P<stem>{_STEM})-(?P<pid>[1-9][0-9]{{0,9}})\.json$")


def connection_stem(connection_file: Optional[str]) -> Optional[str]:
    """The name of a connection file without ``.json``: what links a kernel's state files
    to it. None for a name that could not be a file name of ours."""
    if not connection_file:
        return None
    stem = os.path.basename(str(connection_file))
    if stem.endswith(".json"):
        stem = stem[:-len(".json")]
    return stem if STEM_RE.match(stem) else None


def state_file_name(stem: str, pid: int) -> str:
    return f"{PREFIX}{stem}-{pid}.json"


def kernel_connection_file() -> Optional[str]:
    """This kernel's connection file (absolute), from the running ipykernel; None outside
    a kernel. Never imports ipykernel: a kernel has imported it already."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    app_class = getattr(kernelapp, "IPKernelApp", None)
    try:
        if app_class is None or not app_class.initialized():
            return None
        app = app_class.instance()
        path = getattr(app, "abs_connection_file", None) or getattr(app, "connection_file", None)
    except Exception:
        return None
    return path if isinstance(path, str) and os.path.isabs(path) else None


def process_identity(pid: "int | str" = "self") -> Optional[Tuple[str, int]]:
    """(state letter, start ticks) of a process, or None where /proc does not show it."""
    try:
        return read_stat_identity(pid=pid)
    except (OSError, ValueError, IndexError):
        return None


# -- what the kernel counts -------------------------------------------------------------

class Tally:
    """The counters a state file carries, fed by the recorder's and the guard's listeners
    (shell and watchdog threads: a few additions under a lock)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cells = dict.fromkeys(CELL_STATUSES, 0)
        self._watchdog_interrupts = 0
        self._risky_cells = 0
        self._cell_peak: Optional[int] = None
        self.changes = 0  # bumped by every change: the writer writes soon after one

    def cell_recorded(self, record) -> None:
        """recorder.on_record: one more cell of its status; the exact peak is its own."""
        risky = any(finding_field(finding, "risky") is True for finding in record.findings)
        with self._lock:
            if record.status in self._cells:
                self._cells[record.status] += 1
            if risky:
                self._risky_cells += 1
            self._cell_peak = record.ram_peak
            self.changes += 1

    def watchdog_fired(self, _firing=None) -> None:
        """The guard's watchdog interrupted a cell (each interrupt counts)."""
        with self._lock:
            self._watchdog_interrupts += 1
            self.changes += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"cells": dict(self._cells), "watchdog_interrupts": self._watchdog_interrupts,
                    "risky_cells": self._risky_cells, "cell_peak": self._cell_peak}


# -- the writer -------------------------------------------------------------------------

class StateFile:
    """Keeps this process's state file. `write_reading` is a sampler sink (with the
    runtime's tally and interval bound in); `stop` writes a last state that says
    sampling stopped. Nothing here raises."""

    def __init__(self, tally: Tally, interval: Callable[[], float],
                 oom_kills_file: Callable[[], Optional[str]] = lambda: None,
                 locate: Callable[[], Optional[str]] = kernel_connection_file):
        """`oom_kills_file`: where the reading's `oom_kills` count comes from (the server
        reads it again after a death); `locate`: the kernel's connection file."""
        self.tally = tally
        self._interval = interval
        self._oom_kills_file = oom_kills_file
        self._locate = locate
        self._lock = threading.Lock()
        self._dir_fd: Optional[int] = None
        self._name: Optional[str] = None
        self._off = False
        self._last_write = -math.inf  # monotonic
        self._written_changes = -1
        self._latest: Optional[dict] = None
        self._exit_hooked = False
        self._pid = os.getpid()
        identity = process_identity()
        self._start_ticks = identity[1] if identity is not None else None
        self.path: Optional[str] = None
        self.note: Optional[str] = None  # why there is no state file, in plain words

    def write_reading(self, reading: dict) -> None:
        """Sampler sink: write when a second has passed or a cell finished since."""
        self._latest = reading
        if self._off:
            return
        changes = self.tally.changes
        if changes == self._written_changes and \
                time.monotonic() - self._last_write < MIN_PERIOD:
            return
        self._write(reading, sampling=True, changes=changes)

    def _at_exit(self) -> None:
        """The interpreter is exiting normally (a shutdown or a restart): the last state
        says so, and the server never takes this death for an OOM kill."""
        if self.path is not None and self._latest is not None:
            self._write(self._latest, sampling=False, changes=self.tally.changes, exited=True)

    def stop(self) -> None:
        """oomguard was disabled: say so in the file (its gauges go), and let go of the
        directory. The file stays: its counters are this kernel's until it exits."""
        if self._dir_fd is not None and self._latest is not None:
            self._write(self._latest, sampling=False, changes=self.tally.changes)
        with self._lock:
            self._close_locked()
            self._written_changes = -1  # enabled again: the first reading is written at once

    def _write(self, reading: dict, sampling: bool, changes: int, exited: bool = False) -> None:
        if self._pid != os.getpid():
            return  # a forked child (its atexit): the file is its parent's
        with self._lock:
            try:
                if self._dir_fd is None and not self._open_locked():
                    return
                self._replace_locked(self._payload(reading, sampling, exited))
                self._last_write, self._written_changes = time.monotonic(), changes
            except Exception as exc:
                why = getattr(exc, "strerror", None) or type(exc).__name__
                self._turn_off_locked(f"oomguard could not write its state file ({why})")

    def _payload(self, reading: dict, sampling: bool, exited: bool) -> bytes:
        gpus = [{"index": gpu.get("index"), "used": gpu.get("used")}
                for gpu in (reading.get("gpus") or [])[:MAX_GPUS] if isinstance(gpu, dict)]
        state = {"format": STATE_FORMAT, "version": STATE_VERSION, "pid": os.getpid(),
                 "start_ticks": self._start_ticks, "t": time.time(),
                 "interval": self._interval(), "sampling": sampling, "exited": exited,
                 "rss": reading.get("rss"), "limit": reading.get("limit"),
                 "limit_source": reading.get("limit_source"), "gpus": gpus,
                 "oom_kills": reading.get("oom_kills"),
                 "oom_kills_file": self._oom_kills_file()}
        state.update(self.tally.snapshot())
        return json.dumps(state, allow_nan=False, separators=(",", ":")).encode("utf-8")

    def _open_locked(self) -> bool:
        if self._off:
            return False
        connection_file = self._locate()
        stem = connection_stem(connection_file)
        if stem is None:
            # Not a kernel (plain IPython), or a connection file named unlike any we
            # write beside: nothing for a server to find. Looked for again next time.
            return False
        directory = os.path.dirname(connection_file)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            os.close(fd)
            # Not a Jupyter runtime directory (those are the user's alone): no server
            # looks here, so this is news, not a warning.
            self._turn_off_locked(f"oomguard writes no state file: {directory} is not only "
                                  "this user's to write", logging.INFO)
            return False
        self._dir_fd, self._name = fd, state_file_name(stem, os.getpid())
        self.path = os.path.join(directory, self._name)
        if not self._exit_hooked:
            atexit.register(self._at_exit)
            self._exit_hooked = True
        prune_orphans(fd)
        return True

    def _replace_locked(self, data: bytes) -> None:
        temp = f".{self._name}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(temp, flags, 0o600, dir_fd=self._dir_fd)
        except FileExistsError:  # left by a write cut short, or put there by someone
            os.unlink(temp, dir_fd=self._dir_fd)
            fd = os.open(temp, flags, 0o600, dir_fd=self._dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temp, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)

    def _turn_off_locked(self, note: str, level: int = logging.WARNING) -> None:
        self._close_locked()
        if not self._off:
            self._off = True
            self.note = note + "; this kernel's figures are not published to the server."
            log.log(level, "%s", self.note)

    def _close_locked(self) -> None:
        fd, self._dir_fd = self._dir_fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def prune_orphans(dir_fd: int, now: Optional[float] = None) -> int:
    """Remove the state files of processes that are gone and wrote nothing for a day
    (a server that reads them removes them sooner). Best effort; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    try:
        with os.scandir(dir_fd) as entries:
            for entry in entries:
                match = NAME_RE.match(entry.name)
                if not match or int(match["pid"]) == os.getpid():
                    continue
                try:
                    if now - entry.stat(follow_symlinks=False).st_mtime < ORPHAN_AGE_S:
                        continue
                    os.kill(int(match["pid"]), 0)
                except ProcessLookupError:
                    try:
                        os.unlink(entry.name, dir_fd=dir_fd)
                        removed += 1
                    except OSError:
                        pass
                except OSError:
                    continue  # alive under another user (EPERM), or vanished
    except OSError:
        pass
    return removed


# -- the reader -------------------------------------------------------------------------

@dataclass
class KernelState:
    """One state file, validated field by field (None: missing or not valid)."""

    pid: int
    start_ticks: Optional[int]
    t: Optional[float]
    interval: float
    sampling: bool
    exited: bool = False  # the process exited normally (never an OOM kill)
    rss: Optional[int] = None
    limit: Optional[int] = None
    limit_source: str = "unknown"
    gpus: Tuple[Tuple[int, int], ...] = ()  # (index, used bytes), measured ones only
    oom_kills: Optional[int] = None
    oom_kills_file: Optional[str] = None
    cell_peak: Optional[int] = None
    cells: Dict[str, Optional[int]] = field(default_factory=dict)
    watchdog_interrupts: Optional[int] = None
    risky_cells: Optional[int] = None


def _count(value) -> Optional[int]:
    # type() rather than isinstance(): a bool is no count, and json.loads makes plain ints.
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def _seconds(value) -> Optional[float]:
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    return None


def parse_state(raw: bytes) -> Optional[KernelState]:
    """A state file's bytes as a KernelState; None when it is not one (too long, not
    JSON, another format or version, no valid pid)."""
    if len(raw) > MAX_BYTES:
        return None
    try:
        data = json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT \
            or data.get("version") != STATE_VERSION:
        return None
    pid = _count(data.get("pid"))
    if pid is None or not 0 < pid <= MAX_PID:
        return None
    interval = _seconds(data.get("interval"))
    source = data.get("limit_source")
    oom_file = data.get("oom_kills_file")
    cells = data.get("cells") if isinstance(data.get("cells"), dict) else {}
    gpus: Dict[int, int] = {}
    for gpu in data.get("gpus") if isinstance(data.get("gpus"), list) else []:
        if isinstance(gpu, dict):
            index, used = _count(gpu.get("index")), _count(gpu.get("used"))
            if index is not None and index < MAX_GPUS and used is not None:
                gpus.setdefault(index, used)
    return KernelState(
        pid=pid, start_ticks=_count(data.get("start_ticks")), t=_seconds(data.get("t")),
        interval=interval if interval is not None and 0 < interval <= 3600 else 1.0,
        sampling=data.get("sampling") is True, exited=data.get("exited") is True,
        rss=_count(data.get("rss")), limit=_count(data.get("limit")),
        limit_source=source if source in LIMIT_SOURCES else "unknown",
        gpus=tuple(gpus.items()), oom_kills=_count(data.get("oom_kills")),
        oom_kills_file=oom_file if isinstance(oom_file, str) and len(oom_file) <= MAX_PATH
        else None,
        cell_peak=_count(data.get("cell_peak")),
        cells={status: _count(cells.get(status)) for status in CELL_STATUSES},
        watchdog_interrupts=_count(data.get("watchdog_interrupts")),
        risky_cells=_count(data.get("risky_cells")))
