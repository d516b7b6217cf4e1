"""The kernel process (RSS, high-water mark, children) and host memory, read from /proc.

Linux only; psutil serves as a fallback on other systems, and only when the user has
already imported it (the shim never imports a library the user has not)."""
from __future__ import annotations

import os
import time
import sys
from typing import Dict, Iterable, List, Optional, Tuple

from .procself import PROC, parse_statm, parse_status


def _read(path: str) -> str:
    # os.read rather than open(): no buffered file object per read. The sampler reads a
    # handful of these files up to 10 times a second, and this halves their cost.
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _psutil():
    return sys.modules.get("psutil")


def read_statm_rss(proc_root: str = PROC, pid: "int | str" = "self") -> int:
    """Resident set in bytes from /proc/<pid>/statm, opened for this one read (another
    process's, or a tree in a test; this process's own files are procself.own()'s).
    Raises OSError or ValueError."""
    return parse_statm(_read(os.path.join(proc_root, str(pid), "statm")).encode())[1]


def read_stat_identity(proc_root: str = PROC, pid: "int | str" = "self") -> Tuple[str, int]:
    """(state letter, start time in clock ticks since boot) from /proc/<pid>/stat. A pid
    and its start time name one process for good: a reused pid starts later. Raises
    OSError or ValueError."""
    stat = _read(os.path.join(proc_root, str(pid), "stat"))
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and ")"
    return fields[0], int(fields[19])  # fields 3 and 22 of proc(5)


def read_status(proc_root: str = PROC, pid: "int | str" = "self") -> Dict[str, int]:
    """The ``kB`` fields of /proc/<pid>/status (VmRSS, VmHWM, ...) in bytes. Raises OSError."""
    return parse_status(_read(os.path.join(proc_root, str(pid), "status")))


def process_memory(proc_root: str = PROC, notes: Optional[List[str]] = None
                   ) -> Tuple[Optional[int], Optional[int]]:
    """(rss, hwm) of this process in bytes; None where not measured (with a note)."""
    try:
        status = read_status(proc_root)
        rss, hwm = status.get("VmRSS"), status.get("VmHWM")
        if rss is None and notes is not None:
            notes.append("The kernel's memory (VmRSS) is missing from /proc/self/status.")
        return rss, hwm
    except OSError:
        pass
    ps = _psutil() if proc_root == PROC else None
    if ps is not None:
        try:
            return int(ps.Process().memory_info().rss), None
        except Exception:
            pass
    if notes is not None:
        notes.append("The kernel's memory could not be read (no /proc on this system).")
    return None, None


def _own_pid(proc_root: str) -> int:
    if proc_root == PROC:
        return os.getpid()
    return int(os.readlink(os.path.join(proc_root, "self")))


def _children_via_task_files(proc_root: str, pid: int) -> List[int]:
    """Direct children from /proc/<pid>/task/*/children (needs CONFIG_PROC_CHILDREN)."""
    task_dir = os.path.join(proc_root, str(pid), "task")
    kids: List[int] = []
    for tid in os.listdir(task_dir):
        try:
            kids.extend(int(p) for p in _read(os.path.join(task_dir, tid, "children")).split())
        except (OSError, ValueError):
            continue  # the thread or process ended while we looked
    return kids


def _parent_map(proc_root: str) -> Dict[int, List[int]]:
    """ppid -> pids for every process, from /proc/*/stat (the slow, always-available way)."""
    parents: Dict[int, List[int]] = {}
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        try:
            stat = _read(os.path.join(proc_root, name, "stat"))
            # comm (field 2) may contain spaces and parentheses: split after the last ')'.
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(name))
    return parents


class ChildrenProbe:
    """Total RSS of the kernel's descendant processes (e.g. DataLoader workers).

    Summed RSS counts pages a forked worker still shares with the kernel once per process,
    so it can exceed what the workers add; it is what `top` shows and cheap to read."""

    # Finding the descendants reads a file per kernel thread; their RSS is a file each.
    # So the list is refreshed at most this often (and whenever a child has exited), and
    # each tick reads only the known children.
    DISCOVERY_INTERVAL = 1.0

    def __init__(self, proc_root: str = PROC, pid: Optional[int] = None):
        self.proc_root = proc_root
        self.pid = pid
        self._task_files: Optional[bool] = None  # decided on first use
        self._known: List[int] = []
        self._discovered_at: Optional[float] = None

    def descendants(self) -> List[int]:
        root_pid = self.pid if self.pid is not None else _own_pid(self.proc_root)
        if self._task_files is None:
            self._task_files = os.path.exists(
                os.path.join(self.proc_root, str(root_pid), "task", str(root_pid), "children"))
        if self._task_files:
            children_of = lambda p: _children_via_task_files(self.proc_root, p)  # noqa: E731
        else:
            parents = _parent_map(self.proc_root)
            children_of = lambda p: parents.get(p, [])  # noqa: E731
        found: List[int] = []
        seen = {root_pid}
        frontier: Iterable[int] = [root_pid]
        while frontier:
            nxt = []
            for p in frontier:
                for kid in children_of(p):
                    if kid not in seen:  # guards against pid reuse loops
                        seen.add(kid)
                        found.append(kid)
                        nxt.append(kid)
            frontier = nxt
        return found

    def _current_descendants(self) -> List[int]:
        now = time.monotonic()
        if self._discovered_at is None or now - self._discovered_at >= self.DISCOVERY_INTERVAL:
            self._known = self.descendants()
            self._discovered_at = now
        return self._known

    def children_rss(self, notes: Optional[List[str]] = None) -> Optional[int]:
        try:
            total = 0
            for pid in self._current_descendants():
                try:
                    total += read_statm_rss(self.proc_root, pid)  # zombies: 0
                except (OSError, ValueError, IndexError):
                    try:
                        total += read_status(self.proc_root, pid).get("VmRSS", 0)
                    except OSError:
                        self._discovered_at = None  # it exited: list again next time
            return total
        except (OSError, ValueError):
            pass
        ps = _psutil() if self.proc_root == PROC else None
        if ps is not None:
            try:
                return sum(int(c.memory_info().rss) for c in ps.Process().children(recursive=True))
            except Exception:
                pass
        if notes is not None:
            notes.append("Memory of the kernel's child processes could not be read.")
        return None


def read_meminfo(proc_root: str = PROC, notes: Optional[List[str]] = None
                 ) -> Tuple[Optional[int], Optional[int]]:
    """(MemTotal, MemAvailable) of the host in bytes; None where not measured."""
    try:
        fields = {}
        for line in _read(os.path.join(proc_root, "meminfo")).splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[key] = int(parts[0]) * 1024
            if "MemTotal" in fields and "MemAvailable" in fields:
                break  # both are near the top; the other ~50 lines are not needed
        total, available = fields.get("MemTotal"), fields.get("MemAvailable")
        if available is None and total is not None and notes is not None:
            notes.append("This system does not report available memory (MemAvailable).")
        return total, available
    except OSError:
        pass
    ps = _psutil() if proc_root == PROC else None
    if ps is not None:
        try:
            vm = ps.virtual_memory()
            return int(vm.total), int(vm.available)
        except Exception:
            pass
    if notes is not None:
        notes.append("The machine's total and available memory could not be read.")
    return None, None
