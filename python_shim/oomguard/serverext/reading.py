"""Reading kernels' state files (statefile.py) from the server, at scrape time.

Only files: a scrape never sends a kernel a message, so a busy kernel costs it nothing.
Each directory is listed once per scrape; a file is opened without following links,
must be a regular file of this user's no longer than statefile.MAX_BYTES, and is parsed
again only when it changed (same inode, size and modification time: the last parse)."""
from __future__ import annotations

import os
import stat
from typing import Dict, Iterable, List, Optional, Tuple

from ..probes.cgroup import OOM_KILL_FILES, read_oom_count
from ..statefile import MAX_BYTES, NAME_RE, KernelState, parse_state, process_identity

CGROUP_ROOT = "/sys/fs/cgroup/"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

# (directory, connection file stem) -> [(pid, file name)]
Listing = Dict[Tuple[str, str], List[Tuple[int, str]]]


def list_state_files(directories: Iterable[str]) -> Listing:
    """Every state file in `directories`, by the kernel (connection file) it belongs to."""
    found: Listing = {}
    for directory in set(directories):
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    match = NAME_RE.match(entry.name)
                    if match:
                        found.setdefault((directory, match["stem"]), []).append(
                            (int(match["pid"]), entry.name))
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
            info = os.lstat(path)
        except OSError:
            self._cache.pop(path, None)
            return None
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        state = self._parse(path)
        self._cache[path] = (key, state)
        return state

    def _parse(self, path: str) -> Optional[KernelState]:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:  # ELOOP: a link, never followed
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != self._uid \
                    or info.st_size > MAX_BYTES:
                return None
            return parse_state(os.read(fd, MAX_BYTES + 1))
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


def alive(state: KernelState) -> bool:
    """Whether the process that wrote `state` still runs: its pid shows in /proc with the
    start time the file gives (a reused pid starts later), and is not a zombie (an
    OOM-killed kernel stays one until its manager reaps it)."""
    identity = process_identity(state.pid)
    if identity is None:
        return False
    letter, start_ticks = identity
    if letter in ("Z", "X", "x"):
        return False
    return state.start_ticks is None or start_ticks == state.start_ticks


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
