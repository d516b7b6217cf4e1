"""The container's memory limit and usage, from the cgroup this process belongs to.

Discovery (once): /proc/self/cgroup says which cgroup the process is in, per hierarchy;
/proc/self/mountinfo says where each hierarchy is mounted and which part of it the mount
shows (its *root* field: a v1 mount of root "/docker/abc" shows that cgroup at the mount
point). cgroup v2 is used when its memory controller is enabled for us; otherwise the v1
memory hierarchy (hybrid hosts mount a controller-less v2 tree at .../unified).

Each reading (cheap: a few small files):
- limit: the smallest limit from our cgroup up to the top of the mount (a parent's limit
  binds its children): v2 ``memory.max``; v1 ``memory.limit_in_bytes`` plus
  ``hierarchical_memory_limit`` from memory.stat, which also covers ancestors the mount
  hides. "max" (v2) and v1's ~2^63 "unlimited" mean no limit.
- usage, read where the binding limit is set: ``memory.current`` (v2) or
  ``memory.usage_in_bytes`` (v1) minus inactive file cache (``inactive_file`` /
  ``total_inactive_file``). That is the working set the OOM killer effectively sees:
  inactive page cache is reclaimed before anything is killed, so counting it would
  report a full container that is in fact fine. That page cache is kept too
  (``page_cache``): memory that can be had, but only once the kernel reclaims it.
- the high-water mark, for a post-mortem (``high_water``, not read with each sample):
  v1 ``memory.max_usage_in_bytes``, v2 ``memory.peak``, page cache included.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional, Tuple

from .proc import _read  # the one reader of small kernel files

UNLIMITED_AT = 1 << 62  # v1 writes "unlimited" as PAGE_COUNTER_MAX pages, just under 2^63


class Mount(NamedTuple):
    root: str          # the part of the hierarchy this mount shows
    mount_point: str
    fstype: str        # "cgroup" (v1) or "cgroup2"
    options: frozenset  # super options: the v1 controllers, e.g. {"rw", "memory"}


@dataclass
class CgroupPaths:
    version: int       # 1 or 2
    chain: List[str]   # our cgroup's directory first, then its parents up to the mount's top
    notes: List[str] = field(default_factory=list)  # caveats found while discovering


@dataclass
class CgroupReading:
    version: int
    limit: Optional[int]   # None: no limit, or not readable (then a note says so)
    usage: Optional[int]   # what counts against the limit; None: not readable
    directory: str         # where the usage was read
    notes: List[str] = field(default_factory=list)
    # Inactive page cache left out of `usage` (reclaimed before anything is killed);
    # None where memory.stat could not be read (then it is in `usage`).
    page_cache: Optional[int] = None
    # The OOM killer's count of processes it ended in this kernel's memory cgroup (which
    # may include other kernels and the server; see `read_oom_kills`);
    # None where this kernel keeps no such counter.
    oom_kills: Optional[int] = None
    oom_kills_file: Optional[str] = None

    @property
    def source(self) -> str:
        return f"cgroup v{self.version}"



def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> List[Mount]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        try:
            sep = parts.index("-", 6)  # optional fields end with a lone "-"
            fstype, options = parts[sep + 1], parts[sep + 3]
        except (ValueError, IndexError):
            continue
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Mount(_unescape(parts[3]), _unescape(parts[4]), fstype,
                                frozenset(options.split(","))))
    return mounts


def parse_proc_cgroup(text: str) -> List[Tuple[str, List[str], str]]:
    """Lines "id:controllers:path" -> (id, [controllers], path); v2 is "0::path"."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            entries.append((parts[0], [c for c in parts[1].split(",") if c], parts[2]))
    return entries


def _resolve(root: str, mount: Mount, cgroup_path: str) -> Tuple[List[str], List[str]]:
    """Directories from our cgroup up to the mount's top, and caveats (empty when exact)."""
    top = os.path.normpath(os.path.join(root, mount.mount_point.lstrip("/")))
    mount_root = mount.root.rstrip("/")
    notes: List[str] = []
    if not mount_root:
        rel: Optional[str] = cgroup_path
    elif cgroup_path == mount_root or cgroup_path.startswith(mount_root + "/"):
        rel = cgroup_path[len(mount_root):]
    else:
        rel = None
    if rel is None or ".." in rel.split("/"):
        notes.append(f"This process's cgroup ({cgroup_path}) is outside the cgroup tree "
                     f"mounted at {mount.mount_point}; the limit shown is the one set there.")
        rel = "/"
    leaf = os.path.normpath(os.path.join(top, rel.strip("/"))) if rel.strip("/") else top
    if leaf != top and not os.path.isdir(leaf):
        # Some container runtimes mount only the container's own cgroup at the mount point
        # but keep host paths in /proc/self/cgroup.
        notes.append(f"The cgroup {cgroup_path} is not visible under {mount.mount_point}; "
                     "the limit shown is the one set there.")
        leaf = top
    chain = [leaf]
    while chain[-1] != top:
        chain.append(os.path.dirname(chain[-1]))
    return chain, notes


def _best_chain(root, mounts, cgroup_path) -> Optional[Tuple[List[str], List[str]]]:
    fallback = None
    for mount in mounts:
        chain, notes = _resolve(root, mount, cgroup_path)
        if not notes:
            return chain, notes
        fallback = fallback or (chain, notes)
    return fallback


def _v2_memory_enabled(chain: List[str]) -> bool:
    leaf = chain[0]
    if os.path.exists(os.path.join(leaf, "memory.current")) or \
            os.path.exists(os.path.join(leaf, "memory.max")):
        return True
    try:  # the root cgroup has the controller but no memory.current / memory.max
        return len(chain) == 1 and "memory" in _read(os.path.join(leaf, "cgroup.controllers")).split()
    except OSError:
        return False


def discover(root: str = "/") -> Tuple[Optional[CgroupPaths], List[str]]:
    """Find this process's memory cgroup. Returns (paths or None, notes)."""
    try:
        entries = parse_proc_cgroup(_read(os.path.join(root, "proc/self/cgroup")))
    except FileNotFoundError:
        return None, []  # no cgroups on this system (not Linux): nothing is missing
    except OSError as exc:
        return None, [f"The container's memory limit could not be read "
                      f"(/proc/self/cgroup: {exc.strerror or exc})."]
    try:
        mounts = parse_mountinfo(_read(os.path.join(root, "proc/self/mountinfo")))
    except OSError as exc:
        return None, [f"The container's memory limit could not be read "
                      f"(/proc/self/mountinfo: {exc.strerror or exc})."]

    v2_path = next((p for hid, ctl, p in entries if hid == "0" and not ctl), None)
    v2_mounts = [m for m in mounts if m.fstype == "cgroup2"]
    if v2_path is not None and v2_mounts:
        found = _best_chain(root, v2_mounts, v2_path)
        if found and _v2_memory_enabled(found[0]):
            return CgroupPaths(2, found[0], found[1]), []

    v1_path = next((p for _, ctl, p in entries if "memory" in ctl), None)
    v1_mounts = [m for m in mounts if m.fstype == "cgroup" and "memory" in m.options]
    if v1_path is not None and v1_mounts:
        chain, notes = _best_chain(root, v1_mounts, v1_path)
        return CgroupPaths(1, chain, notes), []

    if v1_path is not None or v2_path is not None:
        return None, ["No cgroup memory controller is available to this process, so a "
                      "container memory limit (if any) cannot be seen."]
    return None, []


def _read_bytes(path: str) -> Optional[int]:
    """A limit/usage file as bytes; None for "max"/unlimited. Raises OSError/ValueError."""
    text = _read(path).strip()
    if text == "max":
        return None
    value = int(text)
    return None if value < 0 or value >= UNLIMITED_AT else value


def _read_stat(path: str) -> dict:
    return _read_stat_text(_read(path))


def _read_stat_text(text: str) -> dict:
    """Lines of "key value" (memory.stat, memory.events, memory.oom_control) as ints."""
    stat = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            stat[key] = int(value)
    return stat


def _problem(path: str, exc: Exception) -> str:
    why = getattr(exc, "strerror", None) or type(exc).__name__
    return f"The container's memory figures could not be read ({path}: {why})."


OOM_KILL_FILES = {2: "memory.events", 1: "memory.oom_control"}


def oom_kills_path(paths: CgroupPaths) -> str:
    """The file that holds the OOM killer's count for this kernel's memory cgroup."""
    return os.path.join(paths.chain[0], OOM_KILL_FILES[paths.version])


def read_oom_count(text: str) -> Optional[int]:
    """The ``oom_kill`` line of a memory.events / memory.oom_control text, or None."""
    return _read_stat_text(text).get("oom_kill")


def read_oom_kills(paths: CgroupPaths, notes: List[str]) -> Tuple[Optional[int], str]:
    """(how many processes of this kernel's memory cgroup the OOM killer has ended, the
    file read).

    The count is the kernel's own: v2 ``memory.events`` and v1 ``memory.oom_control``
    (Linux 4.13+) have an ``oom_kill`` line, counted for the processes of this cgroup
    and its children, by any OOM kill (the cgroup's limit or the whole machine running
    out). A kill counts when it ended a process in this kernel's memory cgroup, which
    may include other kernels and the server: in Docker or Kubernetes that cgroup is
    the whole container's. Only kills outside it (another container, the host) do not
    count. No kernel log (dmesg) is needed. None, with a note, where it is missing."""
    path = oom_kills_path(paths)
    try:
        text = _read(path)
    except FileNotFoundError:
        if paths.version == 2 and len(paths.chain) == 1:
            return None, path  # the v2 root cgroup has no memory.events: no container here
        notes.append(f"The OOM killer's count could not be read ({path} is missing), so a "
                     "kernel death cannot be confirmed as out of memory.")
        return None, path
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        notes.append(f"The OOM killer's count could not be read ({path}: {why}), so a "
                     "kernel death cannot be confirmed as out of memory.")
        return None, path
    count = read_oom_count(text)
    if count is None:
        notes.append(f"{path} has no oom_kill count (it came with Linux 4.13), so a kernel "
                     "death cannot be confirmed as out of memory.")
    return count, path


OOM_GROUP_FILE = "memory.oom.group"


def read_oom_group(paths: CgroupPaths) -> Tuple[Optional[bool], Optional[str]]:
    """Whether an OOM kill that reaches this kernel ends every process of a cgroup that
    holds it, together: cgroup v2's ``memory.oom.group``, which the kubelet sets to 1 on
    each container's cgroup (Kubernetes 1.28+). Then one kernel running the container
    out of memory takes every kernel and the Jupyter server with it.

    Read from this kernel's cgroup up to the top of the mount: the OOM killer ends the
    outermost cgroup with it set. (True, that cgroup's file) where one is 1; (False, the
    kernel's own file) where it is 0 all the way; (None, None) on cgroup v1 or where
    there is no such file (Linux before 4.19, the root cgroup)."""
    if paths.version != 2:
        return None, None
    found, grouped = None, None
    for directory in paths.chain:  # the kernel's own cgroup first, then up
        path = os.path.join(directory, OOM_GROUP_FILE)
        try:
            value = _read(path).strip()
        except OSError:
            continue
        found = found or path
        if value == "1":
            grouped = path  # keep going: the outermost one counts
    if grouped is not None:
        return True, grouped
    return (False, found) if found is not None else (None, None)


class CgroupProbe:
    """Reads limit and usage of this process's memory cgroup; discovery happens once."""

    # Limits change rarely (a resize of the container); usage changes all the time. So
    # the walk up the hierarchy for the limit is cached this long, usage read each tick.
    LIMIT_TTL = 5.0

    def __init__(self, root: str = "/"):
        self.root = root
        self._limit_cache: dict = {}
        self._discovered = False
        self._paths: Optional[CgroupPaths] = None
        self._discovery_notes: List[str] = []
        # Why the OOM killer's count cannot be read, as last said. It is a property of
        # the machine (an old kernel, a missing file), not news in every sample: a reading
        # says it when it is new, and again after each hello (see `oom_kills`).
        self._oom_kills_problem: Optional[str] = None

    @property
    def paths(self) -> Optional[CgroupPaths]:
        if not self._discovered:
            self._paths, self._discovery_notes = discover(self.root)
            self._discovered = True
        return self._paths

    def read(self) -> Tuple[Optional[CgroupReading], List[str]]:
        """(reading or None when no memory cgroup exists, notes)."""
        paths = self.paths
        if paths is None:
            return None, list(self._discovery_notes)
        reading = (self._read_v2 if paths.version == 2 else self._read_v1)(paths.chain)
        problems: List[str] = []
        reading.oom_kills, reading.oom_kills_file = read_oom_kills(paths, problems)
        problem = problems[0] if problems else None
        if problem is not None and problem != self._oom_kills_problem:
            reading.notes.append(problem)  # the first reading that finds it, only
        self._oom_kills_problem = problem
        reading.notes[:0] = paths.notes
        return reading, reading.notes

    def oom_kills(self) -> Tuple[Optional[int], Optional[str]]:
        """(the OOM killer's count for this kernel's memory cgroup, the file read); (None,
        None) without a memory cgroup. For `hello`: the front end compares the count
        across a restart. A front end that says hello has not heard why the count may be
        missing: the next reading (the sample that follows the hello) says it again."""
        paths = self.paths
        if paths is None:
            return None, None
        self._oom_kills_problem = None
        return read_oom_kills(paths, [])

    def oom_group(self) -> Tuple[Optional[bool], Optional[str]]:
        """(read_oom_group's answer) for this kernel's memory cgroup; (None, None)
        without one. A few small reads: for `hello` and the %oomguard text, not samples."""
        paths = self.paths
        return read_oom_group(paths) if paths is not None else (None, None)

    def _smallest_limit(self, chain: List[str], filename: str, notes: List[str]):
        now = time.monotonic()
        cached = self._limit_cache.get(filename)
        if cached is not None and now - cached[0] < self.LIMIT_TTL:
            return cached[1]
        found = self._walk_limits(chain, filename, notes)
        if not notes:  # a failed read is not cached: try again next tick
            self._limit_cache[filename] = (now, found)
        return found

    def _walk_limits(self, chain: List[str], filename: str, notes: List[str]):
        limit, binding, seen_file = None, chain[0], False
        for directory in chain:
            path = os.path.join(directory, filename)
            try:
                value = _read_bytes(path)
                seen_file = True
            except FileNotFoundError:
                continue  # e.g. the v2 root cgroup has no memory.max: no limit there
            except (OSError, ValueError) as exc:
                notes.append(_problem(path, exc))
                return None, binding, True
            if value is not None and (limit is None or value < limit):
                limit, binding = value, directory
        return limit, binding, seen_file

    def _read_v2(self, chain: List[str]) -> CgroupReading:
        notes: List[str] = []
        limit, binding, seen = self._smallest_limit(chain, "memory.max", notes)
        if not seen and len(chain) > 1:
            notes.append(f"The container's memory limit could not be read (no memory.max "
                         f"in {chain[0]}).")
        usage = None
        current = os.path.join(binding, "memory.current")
        try:
            usage = _read_bytes(current)
        except FileNotFoundError:
            if binding != chain[-1]:  # only the root cgroup lacks it: then host figures apply
                notes.append(_problem(current, FileNotFoundError("missing")))
        except (OSError, ValueError) as exc:
            notes.append(_problem(current, exc))
        usage, cache = self._minus_inactive(usage, os.path.join(binding, "memory.stat"),
                                            ("inactive_file",), notes)
        return CgroupReading(2, limit, usage, binding, notes, page_cache=cache)

    def _read_v1(self, chain: List[str]) -> CgroupReading:
        notes: List[str] = []
        limit, binding, seen = self._smallest_limit(chain, "memory.limit_in_bytes", notes)
        if not seen:
            notes.append(f"The container's memory limit could not be read (no "
                         f"memory.limit_in_bytes in {chain[0]}).")
        stat_path = os.path.join(chain[0], "memory.stat")
        leaf_stat = None
        try:
            # Covers ancestors the mount does not show (e.g. the pod above a container).
            leaf_stat = _read_stat(stat_path)
            hierarchical = leaf_stat.get("hierarchical_memory_limit")
            if hierarchical is not None and hierarchical < UNLIMITED_AT and \
                    (limit is None or hierarchical < limit):
                limit, binding = hierarchical, chain[0]
        except OSError:
            pass  # reported below when the usage is read
        usage = None
        usage_path = os.path.join(binding, "memory.usage_in_bytes")
        try:
            usage = _read_bytes(usage_path)
        except (OSError, ValueError) as exc:
            notes.append(_problem(usage_path, exc))
        usage, cache = self._minus_inactive(usage, os.path.join(binding, "memory.stat"),
                                            ("total_inactive_file", "inactive_file"), notes,
                                            leaf_stat if binding == chain[0] else None)
        return CgroupReading(1, limit, usage, binding, notes, page_cache=cache)

    @staticmethod
    def _minus_inactive(usage, stat_path, keys, notes, stat=None) -> Tuple[Optional[int],
                                                                           Optional[int]]:
        """(usage less inactive page cache, the page cache left out); `stat` is
        memory.stat when already read."""
        if usage is None:
            return None, None
        try:
            stat = stat if stat is not None else _read_stat(stat_path)
        except OSError as exc:
            notes.append(_problem(stat_path, exc) + " Page cache is counted as used.")
            return usage, None
        inactive = min(usage, next((stat[k] for k in keys if k in stat), 0))
        return usage - inactive, inactive

    def high_water(self) -> Tuple[Optional[int], Optional[str]]:
        """(the largest usage this kernel's memory cgroup has had, page cache included;
        the file read): v1 memory.max_usage_in_bytes, v2 memory.peak (Linux 5.19+), since
        the group was made or the figure last reset. (None, None) without a memory cgroup
        or such a file. A few small reads: for `hello`, not samples."""
        paths = self.paths
        if paths is None:
            return None, None
        name = "memory.peak" if paths.version == 2 else "memory.max_usage_in_bytes"
        path = os.path.join(paths.chain[0], name)
        try:
            return _read_bytes(path), path
        except (OSError, ValueError):
            return None, None
