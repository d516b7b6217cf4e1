"""The session's memory limit: what the kernel can use before something kills it.

limit = the smallest of
  - the cgroup limit (the container's; enforced by the kernel's OOM killer),
  - physical memory (MemTotal), but only when no cgroup limit exists: inside a container
    MemTotal is the host's RAM, the number other tools wrongly show as the limit,
  - MEM_LIMIT from the environment (bytes; set by JupyterHub spawners),
  - the user's `limit` setting.
used = what counts against that limit: cgroup usage (working set) when a cgroup exists;
host used (MemTotal - MemAvailable) when the limit is physical memory, which every process
on the machine shares. free = max(0, limit - used). Where used is a cgroup's working set,
page_cache is the inactive page cache it leaves out: free, but only once the kernel
reclaims it (None elsewhere: MemAvailable already counts reclaimable cache as free)."""
from __future__ import annotations

import os
from typing import List, Mapping, Optional

from .cgroup import CgroupProbe, CgroupReading
from .proc import PROC, read_meminfo
from ..units import format_bytes  # noqa: F401  (re-exported)



# Every limit_source a reading can carry: the cgroup's version, then the other candidates.
LIMIT_SOURCES = ("cgroup v1", "cgroup v2", "physical", "MEM_LIMIT", "setting", "unknown")


def parse_mem_limit(value: Optional[str], notes: List[str]) -> Optional[int]:
    if value is None or not value.strip():
        return None
    try:
        limit = int(value.strip())
    except ValueError:
        notes.append(f"MEM_LIMIT is set but is not a number of bytes ({value[:40]!r}); ignored.")
        return None
    if limit <= 0:
        notes.append("MEM_LIMIT is set but not positive; ignored.")
        return None
    return limit


def combine(cgroup: Optional[CgroupReading], host_total: Optional[int],
            host_available: Optional[int], mem_limit: Optional[int],
            setting: Optional[int], notes: List[str]) -> dict:
    """Pick the binding limit and what counts against it (a pure function, for tests)."""
    host_used = (host_total - host_available
                 if host_total is not None and host_available is not None else None)
    candidates = []  # ties go to the earlier entry: the enforced limit wins
    if cgroup is not None and cgroup.limit is not None:
        candidates.append((cgroup.limit, cgroup.source))
        if host_total is not None and cgroup.limit > host_total:
            notes.append(f"The container's limit ({format_bytes(cgroup.limit)}) is more than "
                         f"this machine's memory ({format_bytes(host_total)}); the machine "
                         "may run out first.")
    elif host_total is not None:
        candidates.append((host_total, "physical"))
    if mem_limit is not None:
        candidates.append((mem_limit, "MEM_LIMIT"))
    if setting is not None:
        candidates.append((setting, "setting"))
    if not candidates:
        notes.append("No memory limit could be determined.")
        limit, source = None, "unknown"
    else:
        limit, source = min(candidates, key=lambda c: c[0])

    cgroup_usage = cgroup.usage if cgroup is not None else None
    page_cache = None
    if source.startswith("cgroup"):
        used = cgroup_usage  # host figures would be wrong here, so no fallback
    elif source == "physical":
        used = host_used
    else:
        used = cgroup_usage if cgroup_usage is not None else host_used
    if cgroup_usage is not None and used is cgroup_usage:
        page_cache = cgroup.page_cache
    if used is None and limit is not None:
        notes.append("How much of the limit is in use could not be measured.")
    free = max(0, limit - used) if limit is not None and used is not None else None
    return {"limit": limit, "limit_source": source, "used": used, "free": free,
            "page_cache": page_cache, "host_total": host_total,
            "host_available": host_available}


class LimitProbe:
    def __init__(self, root: str = "/", environ: Mapping[str, str] = os.environ):
        self.root = root
        self.environ = environ
        self.cgroup = CgroupProbe(root)

    def read(self, setting: Optional[int] = None, notes: Optional[List[str]] = None) -> dict:
        notes = [] if notes is None else notes
        proc_root = PROC if self.root == "/" else os.path.join(self.root, "proc")
        host_total, host_available = read_meminfo(proc_root, notes)
        cgroup, cgroup_notes = self.cgroup.read()
        notes.extend(cgroup_notes)
        mem_limit = parse_mem_limit(self.environ.get("MEM_LIMIT"), notes)
        result = combine(cgroup, host_total, host_available, mem_limit, setting, notes)
        result["oom_kills"] = cgroup.oom_kills if cgroup is not None else None
        result["notes"] = notes
        return result
