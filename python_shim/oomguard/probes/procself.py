"""A process's own /proc files, read the cheap way: the one reader behind the sampler's
readings, the per-cell peaks, the watchdog, the watchdog's growth and the hard cap.

Each file stays open and is read with one pread from offset 0 (written with one pwrite):
the kernel formats a /proc file afresh on each read, and opening it costs more than
reading it (statm: ~2 µs a pread against ~6 µs an open, read and close). That is what
keeps a cell's own measuring near its floor, a clear_refs write and a status read.

The pread and pwrite are libc's, called with the GIL held (ctypes.PyDLL), where ctypes
loads: a /proc file is formatted in microseconds and never waits on a disk, while
os.pread releases the GIL around it, and in a kernel another thread (ipykernel's IO
thread, busy with the cell's messages at its start and end) then takes it: in a real
kernel each such read cost the cell ~0.2 ms of waiting to get the GIL back.

`/proc/self/...` names this process when it is opened: a forked child inherits the
parent's descriptors, so in a child every file is closed and opened afresh on first use
(os.register_at_fork). Reads raise OSError or ValueError; callers say "not measured"."""
from __future__ import annotations

import functools
import os
import threading
import weakref
from typing import Dict, Optional, Tuple

try:
    import resource as _resource  # POSIX only
except ImportError:
    _resource = None  # type: ignore

PROC = "/proc"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
STATUS_BYTES = 4096  # /proc/<pid>/status is ~1.5 KiB; its memory fields sit in the first 2

_open_files: "weakref.WeakSet[ProcFile]" = weakref.WeakSet()
_opening = threading.Lock()  # two threads reading a file first must not both open it


def _gil_held_calls():
    """(pread, pwrite) from libc that keep the GIL, or None (no ctypes, no libc)."""
    try:
        import ctypes
        libc = ctypes.PyDLL(None, use_errno=True)
        if hasattr(libc, "pread64"):
            pread, pwrite, offset = libc.pread64, libc.pwrite64, ctypes.c_int64
        elif ctypes.sizeof(ctypes.c_long) == 8:
            pread, pwrite, offset = libc.pread, libc.pwrite, ctypes.c_long
        else:
            return None
        for call in (pread, pwrite):
            call.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, offset)
            call.restype = ctypes.c_ssize_t
        return ctypes, pread, pwrite
    except Exception:  # no ctypes (some sandboxes), no libc symbols: os.pread it is
        return None


_calls = _gil_held_calls()


def _pread(fd: int, size: int) -> bytes:
    if _calls is None:
        return os.pread(fd, size, 0)
    ctypes, pread, _pwrite = _calls
    buffer = _buffer_type(ctypes, size)()  # one per call: threads share a file
    got = pread(fd, buffer, size, 0)
    if got < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    return buffer[:got]  # a c_char array's slice is bytes: one copy


@functools.lru_cache(maxsize=None)
def _buffer_type(ctypes, size: int) -> type:
    """`c_char * size`, made once per size: create_string_buffer makes the same buffer
    through a Python call and an audit event, each time, on the cell's path."""
    return ctypes.c_char * size


def _pwrite(fd: int, data: bytes) -> None:
    if _calls is None:
        os.pwrite(fd, data, 0)
        return
    ctypes, _pread, pwrite = _calls
    if pwrite(fd, data, len(data), 0) < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


class ProcFile:
    """One /proc (or cgroup) file kept open, opened on first use with `flags`: `read()`
    is a pread from 0, `write()` a pwrite at 0."""

    def __init__(self, path: str, flags: int = os.O_RDONLY):
        self.path = path
        self._flags = flags | _CLOEXEC
        self._fd: Optional[int] = None

    def _descriptor(self) -> int:
        fd = self._fd
        if fd is None:
            with _opening:
                fd = self._fd
                if fd is None:
                    fd = self._fd = os.open(self.path, self._flags)
                    _open_files.add(self)
        return fd

    def read(self, size: int = 4096) -> bytes:
        fd = self._fd  # open already, but for the first read
        return _pread(fd if fd is not None else self._descriptor(), size)

    def write(self, data: bytes) -> None:
        fd = self._fd
        _pwrite(fd if fd is not None else self._descriptor(), data)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self):
        self.close()


def _close_all_in_child() -> None:
    for proc_file in list(_open_files):
        proc_file.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_all_in_child)


def parse_statm(data: bytes) -> Tuple[int, int]:
    """(data segment, resident set) in bytes from statm's text: fields 6 and 2, in pages.
    Raises ValueError or IndexError."""
    fields = data.split()
    return int(fields[5]) * PAGE_SIZE, int(fields[1]) * PAGE_SIZE


def parse_status(text: str) -> Dict[str, int]:
    """The ``kB`` fields of a status file (VmRSS, VmHWM, VmData, ...) in bytes."""
    fields = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[key] = int(parts[0]) * 1024
    return fields


def status_field(data: bytes, key: bytes) -> Optional[int]:
    """One ``kB`` field of a status file's bytes (b"VmHWM:"), in bytes, without parsing
    the rest; None where it is missing."""
    at = data.find(key)
    if at < 0:
        return None
    unit = data.find(b"kB", at)
    try:
        return int(data[at + len(key):unit]) * 1024
    except ValueError:
        return None


class ProcSelf:
    """A process's statm, status and clear_refs (this process's by default)."""

    def __init__(self, proc_root: str = PROC, pid: "int | str" = "self"):
        base = os.path.join(proc_root, str(pid))
        self._own_process = proc_root == PROC and pid in ("self", os.getpid())
        self._statm = ProcFile(os.path.join(base, "statm"))
        self._status = ProcFile(os.path.join(base, "status"))
        self._clear_refs = ProcFile(os.path.join(base, "clear_refs"), os.O_WRONLY)

    def statm(self) -> Tuple[int, int]:
        """(data segment, resident set) in bytes."""
        return parse_statm(self._statm.read(256))

    def rss(self) -> int:
        """The resident set, VmRSS's figure at a third of status's cost."""
        return int(self._statm.read(256).split()[1]) * PAGE_SIZE

    def status_bytes(self) -> bytes:
        return self._status.read(STATUS_BYTES)

    def status(self) -> Dict[str, int]:
        return parse_status(self.status_bytes().decode("utf-8", "replace"))

    def rss_and_hwm(self) -> Tuple[Optional[int], Optional[int]]:
        """VmRSS and VmHWM: one read of status."""
        data = self.status_bytes()
        return status_field(data, b"VmRSS:"), status_field(data, b"VmHWM:")

    def vm_data(self) -> Optional[int]:
        """VmData: what RLIMIT_DATA is compared against."""
        return status_field(self.status_bytes(), b"VmData:")

    def reset_hwm(self) -> None:
        """Set VmHWM to the current resident set (Linux >= 4.0, no privileges, O(1))."""
        self._clear_refs.write(b"5")

    def max_rss(self) -> Optional[int]:
        """getrusage's ru_maxrss in bytes: the larger of VmHWM and the process's own
        record of its high-water marks (taken at exec and as each thread exits), at a
        tenth of status's cost. This process only (None for another or a test tree)."""
        if not self._own_process or _resource is None:
            return None
        try:
            return _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * 1024
        except (OSError, ValueError):
            return None

    def hwm_resettable(self) -> bool:
        """Whether VmHWM exists and clear_refs is writable: checked without writing, so
        no peak is lost."""
        try:
            if "VmHWM" not in self.status():
                return False
        except (OSError, ValueError):
            return False
        return os.access(self._clear_refs.path, os.W_OK)

    def close(self) -> None:
        for proc_file in (self._statm, self._status, self._clear_refs):
            proc_file.close()


_own: Optional[ProcSelf] = None


def own() -> ProcSelf:
    """This process's files, shared by every reader of the real /proc."""
    global _own
    if _own is None:
        _own = ProcSelf()
    return _own
