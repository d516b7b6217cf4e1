"""A real memory limit for tests and benchmarks: a child of this process's own cgroup v1
memory group, where the kernel's own OOM killer acts and counts.

    with MemoryCgroup(2 * GiB, purpose="survival") as group:
        group.add(pid)          # the process and the children it starts from then on
        group.oom_kills()       # memory.oom_control's oom_kill: processes the OOM killer ended
        group.usage(), group.max_usage(), group.stat()

The group is made under the memory cgroup of this process (the `memory:` line of
/proc/self/cgroup joined onto the v1 mount), named `oomguard-<tag>-<purpose>-<pid>-<n>`
(tag: $OOMGUARD_CGROUP_TAG, default "tests"), so that concurrent runs never meet. It is
always removed: `remove()` (also on leaving the `with`) kills what is left in it and
rmdirs it, retrying while the kernel lets go of the last task; groups this process made
and did not remove yet are removed at exit and on SIGTERM as well.

Where it cannot be done (not Linux, not root, no v1 memory controller, a read-only
mount, cgroup v2), `unavailable()` says why, for a skip. cgroup v2 stays on fixture trees
(fs_trees.py).

`enter_cgroup.py` beside this file is the wrapper that puts a kernel into a group before
ipykernel starts (kernel specs use it as their argv)."""
from __future__ import annotations

import atexit
import errno
import functools
import itertools
import os
import signal
import sys
import threading
import time
from typing import Dict, List, Optional

MiB = 1 << 20
GiB = 1 << 30
V1_MEMORY_MOUNT = "/sys/fs/cgroup/memory"
WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enter_cgroup.py")


class Unavailable(RuntimeError):
    """A real memory cgroup cannot be made here; the message says why."""


def own_memory_cgroup(proc_cgroup: str = "/proc/self/cgroup") -> str:
    """The directory of this process's v1 memory cgroup. Raises Unavailable."""
    if not sys.platform.startswith("linux"):
        raise Unavailable("memory cgroups are Linux only")
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise Unavailable(f"/proc/self/cgroup is not readable ({exc.strerror})") from exc
    path = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            path = parts[2]
    if path is None:
        v2 = any(line.startswith("0::") for line in lines)
        raise Unavailable("no cgroup v1 memory controller"
                          + (" (cgroup v2 only: its memory limits stay on fixture trees)"
                             if v2 else ""))
    directory = os.path.join(V1_MEMORY_MOUNT, path.lstrip("/"))
    if not os.path.isfile(os.path.join(directory, "memory.limit_in_bytes")):
        raise Unavailable(f"this process's memory cgroup ({path}) is not visible at "
                          f"{directory}")
    return directory


@functools.lru_cache(maxsize=None)
def unavailable() -> Optional[str]:
    """Why a real memory cgroup cannot be made here, or None when it can (tried)."""
    try:
        with MemoryCgroup(64 * MiB, purpose="probe"):
            pass
    except Unavailable as exc:
        return str(exc)
    return None


def kernel_argv(group: "MemoryCgroup") -> List[str]:
    """A kernel spec's argv that starts ipykernel inside `group`."""
    return [sys.executable, WRAPPER, "--cgroup", group.path, "-f", "{connection_file}"]


_made: Dict[str, "MemoryCgroup"] = {}  # path -> group, until removed
_made_lock = threading.Lock()
_numbers = itertools.count(1)


class MemoryCgroup:
    """A uniquely named v1 memory cgroup with `limit` bytes, made now; see the module."""

    def __init__(self, limit: int, purpose: str = "test"):
        parent = own_memory_cgroup()
        tag = os.environ.get("OOMGUARD_CGROUP_TAG", "tests")
        self.name = f"oomguard-{tag}-{purpose}-{os.getpid()}-{next(_numbers)}"
        self.path = os.path.join(parent, self.name)
        self.limit = limit
        try:
            os.mkdir(self.path)
        except OSError as exc:
            root = "" if os.geteuid() == 0 else "; not root"
            raise Unavailable(f"cannot make a memory cgroup in {parent} "
                              f"({exc.strerror}{root})") from exc
        with _made_lock:
            _made[self.path] = self
        _install_exit_handlers()
        try:
            self._write("memory.limit_in_bytes", limit)
            # Where the machine has swap, the process would swap instead of being killed:
            # memory + swap gets the same limit (the file exists only with swap accounting).
            if os.path.exists(os.path.join(self.path, "memory.memsw.limit_in_bytes")):
                self._write("memory.memsw.limit_in_bytes", limit)
        except OSError as exc:
            self.remove()
            raise Unavailable(f"cannot set a memory limit in {self.path} "
                              f"({exc.strerror})") from exc

    # --- membership ----------------------------------------------------------------
    def add(self, pid: int) -> None:
        """Move `pid` in; what it starts from then on is in the group too."""
        self._write("cgroup.procs", pid)

    def pids(self) -> List[int]:
        try:
            return [int(p) for p in self._read("cgroup.procs").split()]
        except FileNotFoundError:
            return []

    # --- readings --------------------------------------------------------------------
    def oom_kills(self) -> int:
        """How many processes of this group the OOM killer ended (Linux 4.13+)."""
        return self.oom_control()["oom_kill"]

    def oom_control(self) -> Dict[str, int]:
        return _key_values(self._read("memory.oom_control"))

    def usage(self) -> int:
        """memory.usage_in_bytes: what is charged, page cache included."""
        return int(self._read("memory.usage_in_bytes"))

    def max_usage(self) -> int:
        """The largest usage since the group was made or `reset_max_usage()`."""
        return int(self._read("memory.max_usage_in_bytes"))

    def reset_max_usage(self) -> None:
        self._write("memory.max_usage_in_bytes", 0)

    def stat(self) -> Dict[str, int]:
        return _key_values(self._read("memory.stat"))

    def working_set(self) -> int:
        """Usage less inactive page cache, as the kubelet counts it (and oomguard)."""
        return max(0, self.usage() - self.stat().get("total_inactive_file", 0))

    # --- removal ---------------------------------------------------------------------
    def kill_all(self, timeout: float = 10) -> None:
        """SIGKILL every process in the group until none is left."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes {pids} stay in {self.path}")
            time.sleep(0.05)

    def remove(self, timeout: float = 10) -> None:
        """Kill what is left in the group and remove it (idempotent)."""
        deadline = time.monotonic() + timeout
        while os.path.isdir(self.path):
            try:
                self.kill_all(timeout=max(0.1, deadline - time.monotonic()))
                os.rmdir(self.path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    break
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # a task is still leaving the group
        with _made_lock:
            _made.pop(self.path, None)

    def __enter__(self) -> "MemoryCgroup":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"MemoryCgroup({self.path!r}, limit={self.limit})"

    # --- files -----------------------------------------------------------------------
    def _read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def _write(self, name: str, value) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))


def _key_values(text: str) -> Dict[str, int]:
    """Lines of "key value" as ints (memory.stat, memory.oom_control)."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found


def remove_all() -> None:
    """Remove every group this process made and has not removed."""
    with _made_lock:
        groups = list(_made.values())
    for group in groups:
        try:
            group.remove()
        except Exception as exc:  # keep going: the others must go too
            print(f"real_cgroup: could not remove {group.path}: {exc}", file=sys.stderr)


_handlers_installed = False


def _install_exit_handlers() -> None:
    """At exit and on SIGTERM (when nobody else handles it), remove what is left."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(remove_all)
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        def on_sigterm(signum, frame):
            remove_all()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        signal.signal(signal.SIGTERM, on_sigterm)
