"""What the pre-run check does with the predictor's findings: nothing, warn, or block.

Modes (docs/guard.md):
- "auto" (the default) keeps the session alive without getting in the way of a guess: it
  blocks a cell only when a finding is *exact* (its size follows from known shapes and
  dtypes; the predictor's `exact`) and its peak exceeds what the session can have without
  the user doing anything: the limit less the working set (page cache the kernel would
  reclaim counts as free). It warns about everything else that may not fit: estimates,
  findings on a GPU (PyTorch raises an exception there; the kernel lives), and findings
  that fit only once the kernel reclaims page cache. A cell it blocks would be killed;
  a cell it warns about may well run.
- "warn" warns about every risky finding and runs the cell; "block" blocks on any.

A pure function of the findings (objects or dicts) and the free memory, so the rules
are tested without a kernel."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .text import field as finding_field

MODES = ("auto", "warn", "block", "off")
DEFAULT_MODE = "auto"
HOST = "cpu"
# Findings the predictor makes of many allocations (a list built in a loop): the watchdog
# can stop those between two of them. Every other finding is one call's result.
MANY_ALLOCATIONS = frozenset({"list", "listcomp", "list_of_arrays"})


def is_exact(finding) -> bool:
    return finding_field(finding, "exact") is True


def _size(finding, name: str) -> Optional[int]:
    value = finding_field(finding, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Verdict:
    mode: str                      # the setting that judged: auto / warn / block
    block: bool                    # the cell is stopped before it runs
    shown: list                    # the findings to tell the user about, in cell order
    blocking: list = field(default_factory=list)  # auto: the exact ones that cannot fit
    # A finding on the host that is one call larger than what is free, with the hard cap
    # off: nothing but the cap (or not running the cell) can stop it; the watchdog's
    # interrupt lands only after the call returns.
    single_call: bool = False
    # Inactive page cache counted as free (bytes), where the limit is a cgroup's.
    page_cache: Optional[int] = None


def judge(findings: list, free: dict, mode: str, hard_cap: bool) -> Optional[Verdict]:
    """The verdict on a cell's findings; None when there is nothing to say. `free` is
    Guard.free()'s: free bytes per device, plus "limit" and "page_cache"."""
    if mode not in ("auto", "warn", "block"):
        return None
    risky = [f for f in findings if finding_field(f, "risky") is True]
    host_free = free.get(HOST)
    page_cache = free.get("page_cache")
    blocking: list = []
    tight: list = []
    if mode == "auto" and isinstance(host_free, int):
        blocking = [f for f in risky if is_exact(f) and _on_host(f)
                    and (_size(f, "peak_bytes") or 0) > host_free]
        if isinstance(page_cache, int) and page_cache > 0:
            # Fits, but only in memory the kernel has to take back from the page cache.
            tight = [f for f in findings if f not in risky and _on_host(f)
                     and (_size(f, "peak_bytes") or 0) > host_free - page_cache]
    shown = [f for f in findings if f in risky or f in tight]
    if not shown:
        return None
    block = bool(blocking) if mode == "auto" else mode == "block"
    return Verdict(mode, block, shown, blocking,
                   single_call=not hard_cap and _one_call_too_big(shown, host_free),
                   page_cache=page_cache if isinstance(page_cache, int) else None)


def _on_host(finding) -> bool:
    return (finding_field(finding, "device") or HOST) == HOST


def _one_call_too_big(findings: list, host_free) -> bool:
    if not isinstance(host_free, int):
        return False
    return any(_on_host(f) and finding_field(f, "kind") not in MANY_ALLOCATIONS
               and (_size(f, "bytes") or 0) > host_free for f in findings)

