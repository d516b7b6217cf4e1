"""The spool: the kernel's timeline appended to a file as it happens, so that it outlives
a kernel killed for using too much memory (the OOM killer sends SIGKILL: no handler,
no atexit, no chance to save anything at the end).

One JSON object per line, each with a "kind": a "session" header (pid, python, start,
oomguard version, hostname) first, then "sample" and "cell" lines. One file per kernel,
``oomguard-<pid>-<start, UTC>.jsonl``, in a directory that is a setting (default:
``$OOMGUARD_SPOOL_DIR``, else ``$XDG_CACHE_HOME/oomguard/spool``, else
``~/.cache/oomguard/spool``). A file that would grow past `max_bytes` is renamed to
``.1`` (the older ``.1`` to ``.2``, ...) and a new one begun, so at most `keep` files of at
most `max_bytes` each exist per kernel. Spools of old kernels are pruned when a new one
opens and at each rotation (more than 20 kernels ago, untouched for 14 days, or the
oldest while the directory holds more than `max_total_bytes`).

The directory may be shared (``$OOMGUARD_SPOOL_DIR=/tmp/...``) or a network home, so:
- a directory that already exists is used only if it is this user's and not writable
  by everyone; files are made only there, through the directory's descriptor, with
  ``O_EXCL | O_NOFOLLOW`` (a name someone else made, or a symbolic link planted at
  it, is never opened);
- `SpoolWriter` writes from a thread of its own: the sampler and the cell hooks only
  hand a line over, so a stalled disk never stalls a cell (post_run_cell never waits on
  disk); past a bound, lines are dropped and the note says so.

The writer never raises into its caller: when the directory cannot be created, used or
written, or the disk fills, the spool turns itself off for good, with a note (`note`)
and one warning on the ``oomguard`` logger.

`read_spool()` reads one back (every part, oldest first, skipping a line cut short by the
kill); `latest_spool()` finds the one a dead kernel left. `python -m oomguard export`
turns a spool into the exports of exporters.py."""
from __future__ import annotations

import errno
import json
import logging
import os
import platform
import re
import socket
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .exporters import dumps

log = logging.getLogger("oomguard")

SPOOL_FORMAT = "oomguard-spool"
SPOOL_VERSION = 1
MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 64 * MIB
DEFAULT_KEEP = 3
DEFAULT_MAX_TOTAL_BYTES = 512 * MIB  # the whole directory: every kernel's spools
MIN_MAX_BYTES = 1024
_NEW_FILE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
_DIR_FDS = os.open in os.supports_dir_fd and os.replace in os.supports_dir_fd
PRUNE_KEEP_SESSIONS = 20
PRUNE_MAX_AGE_S = 14 * 24 * 3600
_RECENT_S = 120  # a spool written this recently may belong to a live kernel: never pruned
_NAME = re.compile(r"^oomguard-(\d+)-(\d{8}T\d{6}Z)\.jsonl(?:\.(\d+))?$")

PathLike = Union[str, "os.PathLike[str]"]


def default_directory() -> Path:
    configured = os.environ.get("OOMGUARD_SPOOL_DIR")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "oomguard" / "spool"


def _shim_version() -> str:
    try:
        from ._version import __version__
        return __version__
    except Exception:
        return "0.0.0+unknown"


def _close_quietly(fd: Optional[int]) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass  # closed already, or the disk is gone: nothing to keep


def unsafe_directory(fd: int, directory) -> Optional[str]:
    """Why the open directory `fd` is not a place for this user's spool, or None."""
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"{directory} belongs to another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return f"anyone may write in {directory}"
    return None


class Spool:
    def __init__(self, directory: Optional[PathLike] = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 keep: int = DEFAULT_KEEP, *, session: Optional[Mapping] = None,
                 filename: Optional[str] = None,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES):
        """Nothing touches the disk until `open()` or the first write. `session` adds
        fields to the header line (say, the sampling interval); `filename` replaces the
        default per-kernel name. This kernel's parts fit in `max_total_bytes` too."""
        self._directory = directory
        self.max_total_bytes = max(MIN_MAX_BYTES, int(max_total_bytes))
        self.max_bytes = min(max(MIN_MAX_BYTES, int(max_bytes)), self.max_total_bytes)
        self.keep = max(1, min(int(keep), self.max_total_bytes // self.max_bytes))
        self._session_extra = dict(session) if isinstance(session, Mapping) else {}
        self._filename = filename
        self._lock = threading.Lock()
        self._fd: Optional[int] = None
        self._dir_fd: Optional[int] = None  # the checked directory: files are made in it
        self._size = 0
        self._state = "new"  # new -> open -> closed | disabled (disabled is for good)
        self.start = time.time()
        self.path: Optional[Path] = None
        self.note: Optional[str] = None  # why the spool is off, in plain words
        self.lines_dropped = 0  # lines too long for one file, or that would not encode

    @property
    def enabled(self) -> bool:
        """True while writes reach the disk (or may, before the first one is tried)."""
        return self._state in ("new", "open")

    # -- the writer's API: none of these raise ------------------------------------------

    def open(self) -> bool:
        """Create the directory and the file and write the header (idempotent)."""
        with self._lock:
            try:
                return self._open_locked()
            except Exception as exc:  # a bug, not the disk: still never the caller's problem
                self._disable_locked(f"oomguard's spool failed ({type(exc).__name__})")
                return False

    def write_sample(self, sample: Any) -> None:
        """Append one `sample` body. Usable directly as a sampler sink."""
        self._append("sample", sample)

    def write_cell(self, cell: Any) -> None:
        """Append one CellRecord (a dict, or an object with `to_dict()`)."""
        if hasattr(cell, "to_dict"):
            try:
                cell = cell.to_dict()
            except Exception:
                self.lines_dropped += 1
                return
        self._append("cell", cell)

    def close(self) -> None:
        with self._lock:
            if self._state in ("new", "open"):
                self._state = "closed"
            self._close_fd_locked()
            self._close_dir_locked()

    # -- internals ----------------------------------------------------------------------

    def _append(self, kind: str, record: Any) -> None:
        if self._state not in ("new", "open") or not isinstance(record, Mapping):
            return
        try:
            # Encoding is the costly part; it happens outside the lock.
            line = self._encode(kind, record)
        except Exception:
            self.lines_dropped += 1
            return
        with self._lock:
            try:
                if self._state == "new" and not self._open_locked():
                    return
                if self._state != "open":
                    return
                if self._size + len(line) > self.max_bytes and not self._rotate_locked():
                    return
                if self._size + len(line) > self.max_bytes:  # too long even for a new file
                    self.lines_dropped += 1
                    return
                self._write_locked(line)
            except Exception as exc:
                self._disable_locked(f"oomguard's spool failed ({type(exc).__name__})")

    @staticmethod
    def _encode(kind: str, record: Mapping) -> bytes:
        line = {"kind": kind}
        line.update(record)
        if record.get("type") == "sample":  # a whole message: its envelope is not data
            line.pop("type", None)
            line.pop("v", None)
        line["kind"] = kind
        return (dumps(line) + "\n").encode("utf-8")

    def session(self) -> dict:
        """The header's fields (pid, python, start, oomguard, hostname, ...): also what
        `export(..., session=)` wants for a live kernel."""
        session = {"format": SPOOL_FORMAT, "version": SPOOL_VERSION, "pid": os.getpid(),
                   "python": platform.python_version(), "executable": sys.executable,
                   "start": self.start, "oomguard": _shim_version(),
                   "hostname": socket.gethostname()}
        session.update(self._session_extra)
        return session

    def _header(self) -> bytes:
        header = {"kind": "session"}
        header.update(self.session())
        header["kind"] = "session"
        return (dumps(header) + "\n").encode("utf-8")

    def _open_locked(self) -> bool:
        if self._state == "open":
            return True
        if self._state != "new":
            return False
        try:
            directory = Path(self._directory).expanduser() if self._directory is not None \
                else default_directory()
        except (RuntimeError, KeyError, OSError) as exc:  # no home directory to be found
            self._disable_locked(f"oomguard found no directory for its spool ({exc})")
            return False
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.start))
        self.path = directory / (self._filename or f"oomguard-{os.getpid()}-{stamp}.jsonl")
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
                                   | getattr(os, "O_CLOEXEC", 0))
            problem = unsafe_directory(self._dir_fd, directory)
            if problem is not None:
                self._disable_locked(f"oomguard does not keep its spool there: {problem}")
                return False
            self._open_file_locked()
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ELOOP):
                why = f"{self.path.name} is there already, and is not this kernel's"
            else:
                why = exc.strerror or type(exc).__name__
            self._disable_locked(f"oomguard cannot write its spool in {directory} ({why})")
            return False
        self._state = "open"
        self._prune_locked()
        return True

    def _prune_locked(self) -> None:
        # Room for the part just begun to grow to max_bytes before the next prune.
        prune_spools(self.path.parent, protect=self.path,
                     max_total_bytes=self.max_total_bytes - self.max_bytes)

    def _in_directory(self, name: str) -> dict:
        """Where `name` is: through the checked directory's descriptor where the system
        allows, so the directory cannot be swapped for another after the check."""
        if _DIR_FDS and self._dir_fd is not None:
            return {"path": name, "dir_fd": self._dir_fd}
        return {"path": str(self.path.parent / name), "dir_fd": None}

    def _open_file_locked(self) -> None:
        # A new file only (O_EXCL), never through a symbolic link (O_NOFOLLOW): a name
        # made by someone else, or a link planted at it, is refused.
        # Unbuffered on purpose: one os.write per line, so a line is in the kernel's page
        # cache as soon as it is written. No fsync: a process killed by SIGKILL (the OOM
        # killer) loses only its own memory; what it wrote is the operating system's
        # and reaches the disk anyway. Only a crash of the whole machine could lose the
        # last few seconds, and per-line fsyncs would cost far more than they save.
        where = self._in_directory(self.path.name)
        self._fd = os.open(where["path"], _NEW_FILE, 0o600, dir_fd=where["dir_fd"])
        self._size = 0
        self._write_locked(self._header())

    def _write_locked(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _rotate_locked(self) -> bool:
        """Start a new file, keeping `keep - 1` older parts. False when the spool is off."""
        self._close_fd_locked()
        try:
            if self.keep > 1:
                for number in range(self.keep - 1, 0, -1):
                    older = self._in_directory(_part(self.path, number - 1).name)
                    newer = self._in_directory(_part(self.path, number).name)
                    try:
                        os.replace(older["path"], newer["path"], src_dir_fd=older["dir_fd"],
                                   dst_dir_fd=newer["dir_fd"])
                    except FileNotFoundError:
                        pass
            else:
                where = self._in_directory(self.path.name)
                os.unlink(where["path"], dir_fd=where["dir_fd"])
            self._open_file_locked()
        except OSError as exc:
            self._disable_locked(f"oomguard could not rotate its spool "
                                 f"({exc.strerror or type(exc).__name__})")
            return False
        self._prune_locked()
        return True

    def _close_fd_locked(self) -> None:
        fd, self._fd = self._fd, None
        _close_quietly(fd)

    def _close_dir_locked(self) -> None:
        fd, self._dir_fd = self._dir_fd, None
        _close_quietly(fd)

    def _disable_locked(self, note: str) -> None:
        self._close_fd_locked()
        self._close_dir_locked()
        if self._state != "disabled":
            self._state = "disabled"
            self.note = note + "; the timeline is kept in memory only."
            log.warning("%s", self.note)


class SpoolWriter:
    """A Spool written from a thread of its own (``oomguard-spool``).

    The sampler and the cell hooks only hand a record over (a deque append under a
    lock, microseconds), so a disk that stalls — a network home directory — never
    stalls a cell; the thread encodes and writes. At most MAX_QUEUED records wait: past
    that they are dropped, counted, and the note says so. The thread starts on the first
    record and ends after `close()` has written what was queued.

    Woken by a record, the thread waits GATHER seconds before it encodes anything, and
    records handed over meanwhile do not wake it again: a cell's record is written once
    the kernel has sent its reply, not while the next cell wants the GIL, and cells run
    back to back are written together."""

    MAX_QUEUED = 10_000  # ~3 hours of 1 Hz samples
    THREAD_NAME = "oomguard-spool"
    GATHER = 0.05  # seconds

    def __init__(self, spool: Spool):
        self.spool = spool
        self._queue: deque = deque()
        self._ready = threading.Condition()
        self._writing = False
        self._closing = False
        self._awake = False   # the thread is gathering or writing: no need to wake it
        self._hurry = False   # flush() waits: no gathering
        self._thread: Optional[threading.Thread] = None
        self.dropped = 0

    @property
    def path(self) -> Optional[Path]:
        return self.spool.path

    @property
    def note(self) -> Optional[str]:
        if self.spool.note:
            return self.spool.note
        if self.dropped:
            return (f"The disk holding oomguard's spool is not keeping up: {self.dropped} "
                    "readings were not written to it.")
        return None

    def session(self) -> dict:
        return self.spool.session()

    def write_sample(self, sample: Any) -> None:
        self._put(self.spool.write_sample, sample)

    def write_cell(self, cell: Any) -> None:
        self._put(self.spool.write_cell, cell)

    def _put(self, write, record) -> None:
        with self._ready:
            if self._closing or not self.spool.enabled:
                return
            if len(self._queue) >= self.MAX_QUEUED:
                self.dropped += 1
                return
            self._queue.append((write, record))
            if self._thread is None:
                thread = threading.Thread(target=self._work, name=self.THREAD_NAME,
                                          daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had: nothing is written
                    self._queue.clear()
                    self.dropped += 1
                    return
                self._thread = thread
            if not self._awake:
                self._awake = True
                self._ready.notify()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._awake = False
                    self._ready.wait()
                if not self._queue:  # closing, and everything written
                    break
                self._awake = True
                self._ready.wait_for(lambda: self._closing or self._hurry, self.GATHER)
                batch = list(self._queue)
                self._queue.clear()
                self._writing = True
            try:
                for write, record in batch:
                    write(record)  # never raises: the spool turns itself off instead
            finally:
                with self._ready:
                    self._writing = False
                    self._ready.notify_all()
        self.spool.close()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was handed over is written; False if that took too long."""
        deadline = time.monotonic() + timeout
        with self._ready:
            self._hurry = True
            self._ready.notify_all()
            try:
                while self._queue or self._writing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._ready.wait(left)
            finally:
                self._hurry = False
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued and close; wait at most `timeout` for a stalled disk (the
        thread finishes on its own)."""
        with self._ready:
            self._closing = True
            thread = self._thread
            self._ready.notify_all()
        if thread is None:
            self.spool.close()
        elif thread is not threading.current_thread():
            thread.join(timeout)


# -- finding and reading spools ----------------------------------------------------------

def open_for_reading(path: PathLike):
    """A spool file opened to read, never through a symbolic link planted at its name."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(fd, "rb")


def _part(base: Path, number: int) -> Path:
    return base if number == 0 else base.with_name(f"{base.name}.{number}")


def _base_of(path: Path) -> Path:
    """The current part's path for any part (``x.jsonl.2`` -> ``x.jsonl``)."""
    if re.search(r"\.jsonl\.\d+$", path.name):
        return path.with_name(path.name.rsplit(".", 1)[0])
    return path


def spool_parts(path: PathLike) -> List[Path]:
    """The files of one spool, oldest first: ``.N`` ... ``.1``, then the current one."""
    base = _base_of(Path(path).expanduser())
    numbered = []
    try:
        for entry in base.parent.iterdir():
            if entry.name.startswith(base.name + "."):
                suffix = entry.name[len(base.name) + 1:]
                if suffix.isdigit():
                    numbered.append((int(suffix), entry))
    except OSError:
        pass
    parts = [entry for _, entry in sorted(numbered, reverse=True)]
    if base.exists():
        parts.append(base)
    return parts


def list_spools(directory: Optional[PathLike] = None) -> List[Dict[str, Any]]:
    """Every spool in `directory`, most recently written first: path (of the current
    part), pid, started (UTC stamp from the name), bytes and modified (all parts)."""
    root = Path(directory).expanduser() if directory is not None else default_directory()
    groups: Dict[str, Dict[str, Any]] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match:
            continue
        try:
            stat = entry.stat()
        except OSError:
            continue
        base = _base_of(entry)
        group = groups.setdefault(base.name, {"path": base, "pid": int(match.group(1)),
                                              "started": match.group(2), "bytes": 0,
                                              "modified": 0.0})
        group["bytes"] += stat.st_size
        group["modified"] = max(group["modified"], stat.st_mtime)
    return sorted(groups.values(), key=lambda g: g["modified"], reverse=True)


def latest_spool(directory: Optional[PathLike] = None, pid: Optional[int] = None, *,
                 exclude_current: bool = True) -> Optional[Path]:
    """The most recently written spool in `directory` (of `pid`, when given), or None.
    Without a pid this process's own spool is skipped: after a crash, a new kernel
    looks for the one that died."""
    for spool in list_spools(directory):
        if pid is not None and spool["pid"] != pid:
            continue
        if pid is None and exclude_current and spool["pid"] == os.getpid():
            continue
        return spool["path"]
    return None


def prune_spools(directory: PathLike, protect: Optional[Path] = None,
                 keep_sessions: int = PRUNE_KEEP_SESSIONS,
                 max_age_s: float = PRUNE_MAX_AGE_S,
                 max_total_bytes: Optional[int] = None) -> List[Path]:
    """Delete the spools of old kernels: beyond the newest `keep_sessions`, untouched for
    `max_age_s`, and then the oldest while the directory holds more than
    `max_total_bytes`. Spools written in the last two minutes (live kernels') are left
    alone. Best effort: returns what it deleted, never raises."""
    deleted: List[Path] = []
    try:
        now = time.time()
        protected = _base_of(Path(protect)).name if protect is not None else None
        spools = list_spools(directory)  # newest first
        total = sum(spool["bytes"] for spool in spools)
        for rank, spool in reversed(list(enumerate(spools))):  # oldest first
            if spool["path"].name == protected or now - spool["modified"] < _RECENT_S:
                continue
            if rank >= keep_sessions or now - spool["modified"] > max_age_s or \
                    (max_total_bytes is not None and total > max_total_bytes):
                for part in spool_parts(spool["path"]):
                    try:
                        size = part.stat().st_size
                        part.unlink()
                        deleted.append(part)
                        total -= size
                    except OSError:
                        pass
    except Exception:
        log.debug("oomguard: pruning old spools failed", exc_info=True)
    return deleted


def read_spool(path: Optional[PathLike] = None) -> Tuple[List[dict], List[dict], dict]:
    """(samples, cells, session) from a spool file, one of its parts, or a directory (its
    latest spool, another process's before this one's; default: the default directory).
    Lines that do not parse, such as one
    cut short by a kill, are skipped and counted in session["skipped_lines"]; session
    also lists the files read ("parts"). Raises FileNotFoundError when there is none."""
    target = Path(path).expanduser() if path is not None else default_directory()
    if target.is_dir():
        found = latest_spool(target) or latest_spool(target, exclude_current=False)
        if found is None:
            raise FileNotFoundError(f"no oomguard spool in {target}")
        target = found
    parts = spool_parts(target)
    if not parts:
        raise FileNotFoundError(f"no oomguard spool at {target}")
    samples: List[dict] = []
    cells: List[dict] = []
    header: Optional[dict] = None
    skipped = 0
    for part in parts:
        with open_for_reading(part) as f:
            for raw in f:
                try:
                    record = json.loads(raw)
                except ValueError:  # includes UnicodeDecodeError
                    skipped += 1
                    continue
                kind = record.pop("kind", None) if isinstance(record, dict) else None
                if kind == "sample":
                    samples.append(record)
                elif kind == "cell":
                    cells.append(record)
                elif kind == "session":
                    header = header or record  # every part repeats it; the first counts
                else:
                    skipped += 1
    session = dict(header or {})
    session.update(path=str(_base_of(target)), parts=[str(p) for p in parts],
                   skipped_lines=skipped)
    return samples, cells, session
