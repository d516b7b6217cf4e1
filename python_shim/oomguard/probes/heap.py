"""What the C heap has handed out, by glibc's own count (mallinfo2): the watchdog's sign
that a new allocation began where /proc shows none.

A block big enough to be mapped afresh raises statm's `data` at once (growth.py), but a
kernel that once held a lot and freed it keeps that heap's address space: glibc gives the
pages back (malloc_trim, or its own trimming) and keeps the range, and the next big
block is carved out of it. `data` then never rises while the resident set climbs chunk
after chunk: measured in a kernel after a loop of 8 MiB tensors, `data` stayed at 2.1
GiB while 128 MiB chunks filled it. glibc's count of the bytes in use (`uordblks`, plus
`hblkhd` for the blocks it mapped) rises by the block's size when malloc returns it,
before the call writes a page, in both cases.

mallinfo2 walks the arenas' free lists under each arena's lock: microseconds on the heaps
measured (a median of 1-4 µs in a process holding 1.5 GiB of a training loop's tensors,
with single calls up to 1 ms when the thread lost its core). It is called with the GIL
held (as procself's reads are: no wait to get it back), and it never calls back into
Python. A heap so fragmented that SLOW_IN_A_ROW calls in a row each take longer than SLOW
stops being read, for the process's life: the watchdog must stay cheap, and `data` still
shows the mapped blocks. (One slow call is a lost core on a shared machine, not a heap.) Where there
is no glibc (musl), no mallinfo2 (glibc < 2.33) or no ctypes, the count is None, and so
when the program's allocator is another one (jemalloc, tcmalloc preloaded), glibc's count
stays still and shows nothing: growth.py then has `data` alone, as before."""
from __future__ import annotations

import functools
import os
import time
from typing import Optional

SLOW = 0.0005      # seconds: a call slower than this...
SLOW_IN_A_ROW = 8  # ...this many times in a row, and the heap is not read again
_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
           "uordblks", "fordblks", "keepcost")


class HeapInUse:
    """Calling it gives glibc's bytes in use (None where it cannot be read)."""

    def __init__(self, call=None):
        self._call = call if call is not None else _mallinfo2()  # (tests pass their own)
        self._slow = 0

    @property
    def available(self) -> bool:
        return self._call is not None

    def __call__(self) -> Optional[int]:
        call = self._call
        if call is None:
            return None
        started = time.perf_counter()
        try:
            info = call()
            in_use = info.uordblks + info.hblkhd
        except Exception:
            self._call = None
            return None
        if time.perf_counter() - started <= SLOW:
            self._slow = 0
        else:
            self._slow += 1
            if self._slow >= SLOW_IN_A_ROW:
                self._call = None
        return in_use


@functools.lru_cache(maxsize=None)
def heap_in_use() -> HeapInUse:
    """The process's one reader (its slowness, once seen, is remembered)."""
    return HeapInUse()


def _mallinfo2():
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
    except (AttributeError, ValueError, OSError):
        return None
    try:
        import ctypes  # procself has loaded it already where it loads
        libc = ctypes.PyDLL(None)  # keeps the GIL: see the module
        if not hasattr(libc, "mallinfo2"):
            return None

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]

        call = libc.mallinfo2
        call.argtypes = ()
        call.restype = MallInfo2
        return call
    except Exception:
        return None
