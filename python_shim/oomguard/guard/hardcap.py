"""The opt-in hard cap: RLIMIT_DATA set so that the process's data segment can grow by
at most what is still free under the session limit.

Why: the watchdog cannot interrupt a single C call, so `torch.ones(n, n)` of 3 GiB in a
session with 2 GiB free runs to the OOM killer. With the cap, the allocation itself fails
(malloc returns NULL): Python raises MemoryError, PyTorch a RuntimeError ("not enough
memory"), and the kernel lives.

What it costs (docs/guard.md): RLIMIT_DATA counts *virtual* private writable memory
(Linux >= 4.7, mmap included), not resident memory. Memory that is reserved but never
touched counts in full, so programs that reserve address space up front (CUDA's
allocator, some JITs, big thread stacks) can fail early. Child processes started while
the cap is on (DataLoader workers, subprocesses) inherit it. The cap is recomputed at
each cell's start from the current reading and the original limit is restored on
disable."""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

from ..probes.procself import own

log = logging.getLogger("oomguard")

CAP_FRACTION = 0.98        # just under the limit: the watchdog (0.95) usually acts first
MIN_HEADROOM = 64 << 20    # never cap below what the kernel itself needs to go on


def _resource():
    try:
        import resource  # stdlib, POSIX only
        return resource if hasattr(resource, "RLIMIT_DATA") else None
    except ImportError:
        return None


def read_vm_data() -> Optional[int]:
    """VmData (bytes) from /proc/self/status: what RLIMIT_DATA is compared against."""
    try:
        return own().vm_data()
    except OSError:
        return None


class HardCap:
    def __init__(self):
        self._saved: Optional[Tuple[int, int]] = None  # the limits before we changed them
        self.cap: Optional[int] = None                  # bytes of VmData allowed, when on

    @property
    def active(self) -> bool:
        return self._saved is not None

    def apply(self, limit: Optional[int], used: Optional[int], notes: List[str]) -> bool:
        """Set RLIMIT_DATA to VmData now + (CAP_FRACTION x limit - used). False (with a
        note) where it cannot be set."""
        resource = _resource()
        if resource is None:
            notes.append("The hard cap needs RLIMIT_DATA (Linux); it is not available here.")
            return False
        vm_data = read_vm_data()
        if limit is None or used is None or vm_data is None:
            notes.append("The hard cap was not set: the limit or the memory in use could "
                         "not be measured.")
            return False
        try:
            soft, hard = self._saved or resource.getrlimit(resource.RLIMIT_DATA)
            cap = vm_data + max(int(CAP_FRACTION * limit) - used, MIN_HEADROOM)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            if soft != resource.RLIM_INFINITY:
                cap = min(cap, soft)  # never loosen a cap someone else set
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
        except (OSError, ValueError) as exc:
            notes.append(f"The hard cap could not be set ({type(exc).__name__}).")
            return False
        if self._saved is None:
            self._saved = (soft, hard)
        self.cap = cap
        return True

    def restore(self) -> None:
        saved, self._saved = self._saved, None
        self.cap = None
        resource = _resource()
        if saved is None or resource is None:
            return
        try:
            resource.setrlimit(resource.RLIMIT_DATA, saved)
        except (OSError, ValueError):
            log.warning("oomguard: could not restore RLIMIT_DATA", exc_info=True)
