"""VRAM per visible GPU: the ``gpus`` list of a ``sample`` (docs/protocol.md).

Sources, first that works: NVML (nvml.py), then nvidia-smi (nvidia_smi.py). With neither,
and no NVIDIA driver on the machine, the list is [] (no GPU); with a driver but no way to
read it, None (not measured) and a note. Devices are filtered and renumbered as CUDA sees
them (cuda_visible.py); PyTorch's allocator figures are added where CUDA is already
initialised (torch_cuda.py).

Cost: NVML queries take microseconds, so NVML is read at every sample. nvidia-smi starts a
process (~50-100 ms) and may hang, so it is run only off the main thread (the sampler
thread), at most every few seconds, and its figures are served from a cache in between.
On the main thread -- a cell, a post_run_cell hook, oomguard.snapshot() -- this probe never
starts a process or initialises NVML, with one exception: the very first reading of a
process that has no sampler running (oomguard.snapshot() before enable()) measures once,
bounded by nvidia-smi's timeout."""
from __future__ import annotations

import logging
import os
import threading
from typing import List, Optional, Tuple

from . import cuda_visible
from .nvidia_smi import MISSING, OK, SmiBackend
from .nvml import NvmlBackend
from .torch_cuda import allocator_figures, reset_torch_peaks, torch_peaks

__all__ = ["GpuProbe", "reset_torch_peaks", "torch_peaks"]

log = logging.getLogger("oomguard")

GPU_FIELDS = ("index", "uuid", "name", "used", "total", "process_used", "torch_allocated",
              "torch_reserved", "source")
# Files that exist wherever the NVIDIA kernel driver is loaded (Linux).
DRIVER_MARKERS = ("proc/driver/nvidia/version", "dev/nvidiactl")


class GpuProbe:
    def __init__(self, root: str = "/", nvml: Optional[NvmlBackend] = None,
                 smi: Optional[SmiBackend] = None):
        # Cheap on purpose: built when oomguard is imported; the work starts at first read.
        self.root = root
        self.nvml = nvml if nvml is not None else NvmlBackend()
        self.smi = smi if smi is not None else SmiBackend()
        self._nvml_tried = False
        self._latest: Optional[Tuple[Optional[List[dict]], List[str]]] = None
        self._measuring = threading.Lock()
        self._said: set = set()

    def read(self, notes: List[str], refresh: Optional[bool] = None) -> Optional[List[dict]]:
        """The protocol's ``gpus`` list: [] where there is no GPU, None where it could not be
        measured (with a note in notes). Never raises.

        refresh: measure now (True), serve the last measurement (False), or decide (None):
        measure off the main thread, or on it where that is cheap (NVML ready) or nothing has
        been measured yet. Torch allocator figures are always read fresh (they are cheap)."""
        try:
            if refresh is None:
                refresh = (threading.current_thread() is not threading.main_thread()
                           or self.nvml.ready or self._latest is None)
            # Never wait for another thread's measurement (it may be a 2 s nvidia-smi call):
            # whoever finds it busy serves the last one.
            if refresh and self._measuring.acquire(blocking=False):
                try:
                    self._latest = self._measure()
                finally:
                    self._measuring.release()
            latest = self._latest
            if latest is None:
                notes.append("GPU memory has not been read yet (the sampler thread reads it).")
                return None
            gpus, measured_notes = latest
            notes.extend(measured_notes)
            if gpus is None:
                return None
            gpus = [dict(gpu) for gpu in gpus]
            _add_torch_figures(gpus, notes)
            return gpus
        except Exception:
            self._say_once("error", "oomguard: reading GPU memory failed",
                           level=logging.WARNING, exc_info=True)
            notes.append("GPU memory could not be read (an internal error, logged on the "
                         "'oomguard' logger).")
            return None

    # --- measuring --------------------------------------------------------------------
    def _measure(self) -> Tuple[Optional[List[dict]], List[str]]:
        notes: List[str] = []
        if not self._nvml_tried:
            self._nvml_tried = True  # once per process: a failed NVML stays failed
            if not self.nvml.start():
                self._say_once("nvml", "oomguard: %s; trying nvidia-smi", self.nvml.failure)
        entries = cuda_visible.parse(os.environ.get("CUDA_VISIBLE_DEVICES"))
        if self.nvml.ready:
            chosen = cuda_visible.select(entries, self.nvml.devices, self.nvml.mig, notes)
            devices = [self.nvml.measure(device, notes) for device in chosen]
            return self._finish(devices, "nvml", notes), notes
        status, physical = self.smi.read(notes)
        if status == OK:
            chosen = cuda_visible.select(entries, physical, None, notes)
            return self._finish(chosen, "nvidia-smi", notes), notes
        if status == MISSING:
            if not self._driver_loaded():
                self._say_once("none", "oomguard: no NVIDIA GPU here (no NVIDIA driver, no "
                               "nvidia-smi); samples carry gpus=[]")
                return [], notes
            notes.append(f"An NVIDIA driver is loaded but GPU memory is not measured: "
                         f"{self.nvml.failure or 'NVML failed'}, and nvidia-smi is not on PATH.")
        reason = notes[-1] if notes else "GPU memory is not measured."
        self._say_once("failed: " + reason, "oomguard: %s", reason, level=logging.WARNING)
        return None, notes

    def _finish(self, devices: List[dict], source: str, notes: List[str]) -> List[dict]:
        """Protocol entries, numbered as CUDA numbers them for this process."""
        if len({d.get("name") for d in devices}) > 1 \
                and os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
            notes.append("These GPUs are of different models: CUDA may number them fastest "
                         "first rather than as listed here (set CUDA_DEVICE_ORDER=PCI_BUS_ID "
                         "to make the numbers agree).")
        gpus = []
        for index, device in enumerate(devices):
            gpu = {"index": index, "uuid": device.get("uuid"), "name": device.get("name"),
                   "used": device.get("used"), "total": device.get("total"),
                   "process_used": self._own_share(device.get("processes"), notes),
                   "torch_allocated": None, "torch_reserved": None, "source": source}
            if gpu["used"] is None or gpu["total"] is None:
                notes.append(f"GPU {index} does not report its memory use ({source}).")
            gpus.append(gpu)
        return gpus

    def _own_share(self, processes: Optional[list], notes: List[str]) -> Optional[int]:
        """This process's GPU memory from the driver's process list; None where unknown."""
        if processes is None:
            return None
        pid = os.getpid()
        mine = [used for process_id, used in processes if process_id == pid]
        if mine:
            return None if None in mine else sum(mine)
        # Not listed. In a container the driver reports process ids from outside it; if
        # some listed process does not exist here, ours may be among them under another id.
        if any(not self._pid_exists(process_id) for process_id, _ in processes):
            notes.append("The GPU lists processes by ids this kernel cannot see (a "
                         "container?), so the kernel's own share of GPU memory is unknown.")
            return None
        return 0

    def _pid_exists(self, pid: int) -> bool:
        proc = os.path.join(self.root, "proc")
        if not os.path.isdir(os.path.join(proc, "self")):
            return True  # no /proc to tell: assume it is one of ours to see
        return os.path.exists(os.path.join(proc, str(pid)))

    def _driver_loaded(self) -> bool:
        return any(os.path.exists(os.path.join(self.root, marker)) for marker in DRIVER_MARKERS)

    def _say_once(self, key: str, message: str, *args, level: int = logging.INFO,
                  exc_info: bool = False) -> None:
        """Log a state once per process, not at every sample."""
        if key not in self._said:
            self._said.add(key)
            log.log(level, message, *args, exc_info=exc_info)


def _add_torch_figures(gpus: List[dict], notes: List[str]) -> None:
    """PyTorch's allocated / reserved bytes, per CUDA index, where CUDA is initialised."""
    figures = allocator_figures()
    for gpu in gpus:
        allocated, reserved = figures.get(gpu["index"], (None, None))
        gpu["torch_allocated"], gpu["torch_reserved"] = allocated, reserved
        if gpu["process_used"] == 0 and reserved:
            # PyTorch holds memory there, so the driver's list missed this process (in a
            # container nvidia-smi often lists no process at all): zero would be a lie.
            gpu["process_used"] = None
            notes.append(f"The GPU does not list this kernel's process, so its own share of "
                         f"GPU {gpu['index']} is unknown (PyTorch alone reserves "
                         f"{reserved >> 20} MiB there).")
