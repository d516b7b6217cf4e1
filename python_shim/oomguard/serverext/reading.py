"""Reading kernels' state files (statefile.py) from the server, at scrape time.

Only files: a scrape never sends a kernel a message, so a busy kernel costs it nothing.
Each directory is listed once per scrape; a file is opened without following links,
must be a regular file of this user's no longer than statefile.MAX_BYTES, and is parsed
again only when it changed (same inode, size and modification time: the last parse)."""
from __future__ import annotations

import os
import select
import stat
from typing import Dict, Iterable, List, Optional, Tuple

from ..probes.cgroup import OOM_KILL_FILES, read_oom_count
from ..statefile import MAX_BYTES, NAME_RE, KernelState, parse_state, process_identity

CGROUP_ROOT = "/sys/fs/cgroup/"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

# (directory, connection file stem) -> [paths of its state files]
Listing = Dict[Tuple[str, str], List[str]]


def list_state_files(directories: Iterable[str]) -> Listing:
    """Every state file in `directories`, by the kernel (connection file) it belongs to."""
    found: Listing = {}
    for directory in set(directories):
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    match = NAME_RE.match(entry.name)
                    if match:
                        found.setdefault((directory, match["stem"]), []).append(entry.path)
        except OSError:
            continue  # gone, or not ours to list: no files
    return found


class StateReader:
    """Reads state files, re-parsing only those that changed since the last scrape."""

    def __init__(self):
        self._cache: Dict[str, Tuple[tuple, Optional[KernelState]]] = {}
        self._uid = os.geteuid()

    def read(self, path: str) -> Optional[KernelState]:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:  # gone, or a link (ELOOP: never followed)
            self._cache.pop(path, None)
            return None
        try:
            info = os.fstat(fd)
            key = (info.st_ino, info.st_size, info.st_mtime_ns)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            state = None
            if stat.S_ISREG(info.st_mode) and info.st_uid == self._uid \
                    and info.st_size <= MAX_BYTES:
                state = parse_state(os.read(fd, MAX_BYTES + 1))
            self._cache[path] = (key, state)
            return state
        except OSError:
            return None
        finally:
            os.close(fd)

    def forget(self, path: str) -> None:
        self._cache.pop(path, None)

    def keep_only(self, paths: Iterable[str]) -> None:
        """Drop the cache entries of files not seen in this scrape."""
        keep = set(paths)
        for path in [p for p in self._cache if p not in keep]:
            del self._cache[path]


class Liveness:
    """Whether the processes that wrote state files still run.

    The first time a process is seen, its pid must show in /proc with the start time
    its file gives (a reused pid starts later) and not as a zombie (an OOM-killed kernel
    stays one until its manager reaps it). Where Linux offers pidfds (5.3+), the server
    then holds one for the process: later scrapes ask it (one poll, no /proc read), and
    it cannot be fooled by a reused pid."""

    def __init__(self):
        self._pidfds: Dict[Tuple[int, Optional[int]], int] = {}

    def alive(self, state: KernelState) -> bool:
        key = (state.pid, state.start_ticks)
        pidfd = self._pidfds.get(key)
        if pidfd is not None:
            if not select.select([pidfd], [], [], 0)[0]:
                return True  # readable once the process has exited
            self._close(key)
            return False
        if not _runs(state):
            return False
        pidfd = _pidfd_open(state.pid)
        if pidfd is not None:
            if _runs(state):  # still the same process now that we hold it
                self._pidfds[key] = pidfd
            else:
                os.close(pidfd)
                return False
        return True

    def keep_only(self, keys: Iterable[Tuple[int, Optional[int]]]) -> None:
        keep = set(keys)
        for key in [key for key in self._pidfds if key not in keep]:
            self._close(key)

    def close(self) -> None:
        for key in list(self._pidfds):
            self._close(key)

    def _close(self, key) -> None:
        pidfd = self._pidfds.pop(key, None)
        if pidfd is not None:
            os.close(pidfd)


def _runs(state: KernelState) -> bool:
    identity = process_identity(state.pid)
    if identity is None:
        return False
    letter, start_ticks = identity
    if letter in ("Z", "X", "x"):
        return False
    return state.start_ticks is None or start_ticks == state.start_ticks


def _pidfd_open(pid: int) -> Optional[int]:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:  # gone, or a kernel without pidfds
        return None


def read_oom_kills_file(path: Optional[str]) -> Optional[int]:
    """The OOM killer's count from a cgroup file a kernel named, read afresh; None unless
    the path is exactly a memory.events / memory.oom_control under /sys/fs/cgroup (the
    name comes from a file the kernel's user code could write)."""
    if not isinstance(path, str) or not path.startswith(CGROUP_ROOT) \
            or os.path.normpath(path) != path \
            or os.path.basename(path) not in OOM_KILL_FILES.values():
        return None
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return read_oom_count(os.read(fd, 4096).decode("ascii", "replace"))
    except OSError:
        return None
    finally:
        os.close(fd)
