"""Per-cell peaks: the kernel's RSS peak, the container's peak and the GPUs' peaks.

RSS: exact where Linux lets us reset the high-water mark. Writing "5" to
/proc/self/clear_refs (Linux >= 4.0, no privileges) sets VmHWM to the current RSS, so
VmHWM read after the cell is the cell's own peak, however short the spike. The kernel
does this in O(1) without walking page tables. The same figure comes cheaper from
getrusage's ru_maxrss (1 µs against status's 8 µs and more), which is the larger of VmHWM
and the marks the process recorded as threads exited or at exec; those only go up, so
ru_maxrss is the cell's peak wherever it was no higher than the RSS at the cell's start
(checked at each start), or rose during the cell. Elsewhere status is read. Where the reset is refused (gVisor,
macOS, a read-only /proc) the peak is the highest reading the sampler took while the
cell ran ("sampled"), and the record says so.

Container: cgroup v2 ``memory.peak`` accepts a write from Linux 6.12 on; the write resets
the peak *for that file descriptor only*, so one fd stays open and is written before the
cell and read after it. Elsewhere (cgroup v1, older kernels) it is simply not measured.

GPU: the sampler's readings (NVML / nvidia-smi) give before, after and the highest value
seen while the cell ran; PyTorch's allocator peak sharpens that where torch already
initialised CUDA (probes/torch_cuda.py)."""
from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import Dict, List, Optional, Tuple

from .probes.cgroup import CgroupProbe
from .probes.proc import process_memory
from .probes.procself import PROC, ProcFile, ProcSelf, own

log = logging.getLogger("oomguard")


def hwm_resettable(files: ProcSelf) -> bool:
    """Whether the exact per-cell peak is available here (ProcSelf.hwm_resettable)."""
    return files.hwm_resettable()


def _max(*values: Optional[int]) -> Optional[int]:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def gpu_figure(entry: dict) -> Optional[int]:
    """The memory a GPU entry of a sample says this kernel holds: its own share where
    measured, else the whole device's use (other processes included), else what torch's
    allocator reserved. One device's readings come from one source, so before, after and
    peak of a cell compare like with like."""
    for name in ("process_used", "used", "torch_reserved"):
        value = entry.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class RunningMax:
    """The highest RSS and GPU figures the sampler saw while a cell ran. The sampler
    thread feeds it; the shell thread starts and stops it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = False
        self._rss: Optional[int] = None
        self._gpus: Dict[int, int] = {}

    def start(self) -> None:
        with self._lock:
            self._active, self._rss, self._gpus = True, None, {}

    def feed(self, reading: dict) -> None:
        if not self._active:  # a cheap unlocked check first: most ticks are idle ones
            return
        rss = reading.get("rss")
        gpus = reading.get("gpus") or []
        with self._lock:
            if not self._active:
                return
            if isinstance(rss, int):
                self._rss = _max(self._rss, rss)
            for entry in gpus:
                index, value = entry.get("index"), gpu_figure(entry)
                if isinstance(index, int) and value is not None:
                    self._gpus[index] = _max(self._gpus.get(index), value)

    def stop(self) -> Tuple[Optional[int], Dict[int, int]]:
        with self._lock:
            self._active = False
            return self._rss, dict(self._gpus)


class RssPeak:
    """The kernel process's RSS before, after and at its peak during a cell."""

    def __init__(self, proc_root: str = PROC):
        self.proc_root = proc_root
        self._files = own() if proc_root == PROC else ProcSelf(proc_root)
        self.method = "sampled"
        # ru_maxrss just after this cell's reset, and whether it was at most the RSS then
        # (the process's recorded marks below the cell's: ru_maxrss is then VmHWM).
        self._max_rss_before: Optional[int] = None
        self._max_rss_is_hwm = False

    def check(self) -> str:
        """Decide once (at enable) whether the exact peak is available."""
        self.method = "hwm" if hwm_resettable(self._files) else "sampled"
        return self.method

    def _rss(self, notes: List[str]) -> Optional[int]:
        try:
            return self._files.rss()  # the same VmRSS, at a third of the cost
        except (OSError, ValueError, IndexError):
            pass
        return process_memory(self.proc_root, notes)[0]  # psutil where there is no /proc

    def begin(self, notes: List[str]) -> Tuple[str, Optional[int]]:
        """Reset the high-water mark and read RSS: (method for this cell, rss before)."""
        method = self.method
        if method == "hwm":
            try:
                self._files.reset_hwm()
            except OSError as exc:
                # Allowed at enable but refused now (a sandbox changed its mind): stop trying.
                self.method = method = "sampled"
                log.warning("oomguard: resetting the high-water mark failed (%s); per-cell "
                            "peaks are sampled from now on", exc)
        self._max_rss_before = self._files.max_rss() if method == "hwm" else None
        rss = self._rss(notes)
        self._max_rss_is_hwm = self._max_rss_before is not None and rss is not None \
            and self._max_rss_before <= rss
        return method, rss

    def end(self, method: str, sampled_max: Optional[int], rss_before: Optional[int],
            interval: float, notes: List[str]
            ) -> Tuple[Optional[int], Optional[int], str]:
        """(rss after, peak, method used) at the end of a cell."""
        if method == "hwm":
            max_rss = self._files.max_rss()
            if max_rss is not None and (self._max_rss_is_hwm or
                                        max_rss > (self._max_rss_before or max_rss)):
                after = self._rss(notes)
                return after, _max(max_rss, after), "hwm"
            try:
                after, hwm = self._files.rss_and_hwm()
                if hwm is not None:
                    return after, _max(hwm, after), "hwm"
            except OSError:
                pass
        after = self._rss(notes)
        peak = _max(sampled_max, rss_before, after)
        if peak is not None:
            why = ("the high-water mark could not be read after the cell" if method == "hwm"
                   else "this system does not let oomguard reset the kernel's high-water mark")
            notes.append(f"The peak is the highest of the readings taken every {interval:g} s "
                         f"while the cell ran ({why}), so a shorter spike may be missed.")
        return after, peak, "sampled"


class ContainerPeak:
    """cgroup v2 ``memory.peak`` of this process's cgroup, reset per cell through one fd
    (procself.ProcFile: kept open, read and written in place)."""

    def __init__(self, root: str = "/"):
        self.root = root
        self._file: Optional[ProcFile] = None

    @property
    def available(self) -> bool:
        return self._file is not None

    def open(self) -> bool:
        """Open and test the reset once (at enable). Quietly unavailable on cgroup v1, on
        the root cgroup (no memory.peak) and before Linux 6.12 (memory.peak read-only)."""
        self.close()
        try:
            paths = CgroupProbe(self.root).paths
            if paths is None or paths.version != 2:
                return False
            self._file = ProcFile(os.path.join(paths.chain[0], "memory.peak"), os.O_RDWR)
        except (OSError, ValueError, IndexError):
            return False
        if self.reset() and self.read() is not None:
            return True
        self.close()
        return False

    def reset(self) -> bool:
        peak = self._file
        if peak is None:
            return False
        try:
            peak.write(b"reset\n")  # any non-empty string resets this fd's peak
            return True
        except OSError:
            return False

    def read(self) -> Optional[int]:
        peak = self._file
        if peak is None:
            return None
        try:
            return int(peak.read(64).decode("ascii").strip())
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def close(self) -> None:
        peak, self._file = self._file, None
        if peak is not None:
            peak.close()


def _torch_cuda():
    """probes/torch_cuda.py (it never imports torch itself), or None if it cannot load."""
    try:
        return importlib.import_module(".probes.torch_cuda", __package__)
    except Exception:
        return None


class GpuPeaks:
    """Per device: before, after and peak of a cell, from the sampler's `gpus` readings,
    sharpened by PyTorch's allocator peak when probes/gpu.py offers one."""

    def __init__(self):
        self._before: Dict[int, dict] = {}
        self._torch_reset = False

    def begin(self, gpus: Optional[list], reset_torch: bool) -> None:
        self._torch_reset = False
        if not gpus:  # no GPU (most kernels): nothing more on the cell's path
            self._before = {}
            return
        self._before = {e["index"]: e for e in gpus
                        if isinstance(e, dict) and isinstance(e.get("index"), int)}
        if reset_torch and self._before:
            reset = getattr(_torch_cuda(), "reset_torch_peaks", None)
            if reset is not None:
                try:
                    self._torch_reset = reset() is True  # False: CUDA not initialised
                except Exception:
                    log.debug("oomguard: resetting torch's peak statistics failed", exc_info=True)

    def _torch_peaks(self) -> Dict[int, int]:
        peaks = getattr(_torch_cuda(), "torch_peaks", None) if self._torch_reset else None
        if peaks is None:
            return {}
        try:
            found = peaks() or {}
            return {i: v for i, v in found.items() if isinstance(i, int) and isinstance(v, int)}
        except Exception:
            log.debug("oomguard: reading torch's peak statistics failed", exc_info=True)
            return {}

    def end(self, gpus: Optional[list], sampled: Dict[int, int]) -> List[dict]:
        if not gpus and not self._before:
            return []  # no device seen before or after the cell: no entries
        after = {e["index"]: e for e in (gpus or [])
                 if isinstance(e, dict) and isinstance(e.get("index"), int)}
        torch_peaks = self._torch_peaks()
        out = []
        for index in sorted(set(self._before) | set(after)):
            before_entry = self._before.get(index, {})
            before = gpu_figure(before_entry)
            after_value = gpu_figure(after.get(index, {}))
            peak = _max(before, after_value, sampled.get(index))
            reserved_before = before_entry.get("torch_reserved")
            if index in torch_peaks and before is not None and isinstance(reserved_before, int):
                # What the process held outside torch's pool (CUDA context, other
                # libraries) plus torch's exact peak allocation during the cell: a lower
                # bound of the true peak (the pool is at least that big), never above it.
                peak = _max(peak, before - reserved_before + torch_peaks[index])
            out.append({"index": index, "before": before, "after": after_value, "peak": peak})
        return out
