"""GPU memory from NVML through the ``nvidia-ml-py`` bindings (module ``pynvml``).

NVML is the library nvidia-smi itself uses: once initialised, a query costs microseconds
and starts no process. Initialising it loads the driver's library and can take a moment
(up to a second or so on GPUs without persistence mode), so gpu.py does it once, lazily,
off the main thread. It creates no CUDA context and costs no GPU memory."""
from __future__ import annotations

import importlib
from typing import Any, List, Optional

# NVML error codes meaning "no NVIDIA driver here" rather than "NVML misbehaved".
_NO_DRIVER_CODES = (9, 12)  # NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND
_MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE


def _text(value: Any) -> Optional[str]:
    if isinstance(value, bytes):  # older bindings return bytes
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _describe(exc: BaseException) -> str:
    # NVMLError's own message ("Driver Not Loaded", ...); never user objects here.
    try:
        return str(exc)[:160] or type(exc).__name__
    except Exception:
        return type(exc).__name__


class NvmlBackend:
    def __init__(self):
        self._nvml: Any = None
        self._devices: List[dict] = []  # static fields and handles, read once at start
        self._mig: Optional[List[dict]] = None
        self.failure: Optional[str] = None  # why NVML cannot be used, in plain words
        self.no_driver = False  # the failure means there is no NVIDIA driver at all

    @property
    def ready(self) -> bool:
        return self._nvml is not None

    def start(self) -> bool:
        """Import the bindings and initialise NVML; False (with `failure` set) if either fails."""
        try:
            nvml = importlib.import_module("pynvml")
        except Exception:
            self.failure = "the NVML bindings are not installed (pip install nvidia-ml-py)"
            return False
        try:
            nvml.nvmlInit()
        except Exception as exc:
            self.no_driver = getattr(exc, "value", None) in _NO_DRIVER_CODES
            self.failure = f"NVML could not start ({_describe(exc)})"
            return False
        try:
            self._devices = [self._static(nvml, nvml.nvmlDeviceGetHandleByIndex(i), i)
                             for i in range(nvml.nvmlDeviceGetCount())]
        except Exception as exc:
            self.failure = f"NVML could not list the GPUs ({_describe(exc)})"
            return False
        self._mig = self._mig_instances(nvml)
        self._nvml = nvml
        return True

    @staticmethod
    def _static(nvml: Any, handle: Any, physical: int) -> dict:
        device = {"physical": physical, "handle": handle, "uuid": None, "name": None}
        for field, query in (("uuid", "nvmlDeviceGetUUID"), ("name", "nvmlDeviceGetName")):
            try:
                device[field] = _text(getattr(nvml, query)(handle))
            except Exception:
                pass  # that field stays None
        return device

    def _mig_instances(self, nvml: Any) -> Optional[List[dict]]:
        """The MIG instances of GPUs in MIG mode (CUDA_VISIBLE_DEVICES may name them);
        None where these bindings or this driver cannot list them."""
        found: List[dict] = []
        try:
            for parent in self._devices:
                handle = parent["handle"]
                try:
                    if nvml.nvmlDeviceGetMigMode(handle)[0] != _MIG_ENABLED:
                        continue
                except Exception:
                    continue  # not a MIG-capable GPU
                for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
                    try:
                        mig_handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                    except Exception:
                        continue  # an empty slot
                    found.append(self._static(nvml, mig_handle, parent["physical"]))
        except Exception:
            return None
        return found

    @property
    def devices(self) -> List[dict]:
        """The machine's GPUs in NVML order: physical (index), uuid, name, handle."""
        return self._devices

    @property
    def mig(self) -> Optional[List[dict]]:
        """MIG instances (same fields), or None where they cannot be listed."""
        return self._mig

    def measure(self, device: dict, notes: List[str]) -> dict:
        """The device without its handle, plus used, total (bytes) and processes (list of
        (pid, used bytes or None), or None where NVML could not list them)."""
        nvml, handle = self._nvml, device["handle"]
        out = {key: value for key, value in device.items() if key != "handle"}
        out.update(used=None, total=None, processes=None)
        try:
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            out.update(used=int(memory.used), total=int(memory.total))
        except Exception as exc:
            notes.append(f"NVML could not read the memory of GPU {device['physical']} "
                         f"({_describe(exc)}).")
        try:
            out["processes"] = [(int(p.pid), None if p.usedGpuMemory is None
                                 else int(p.usedGpuMemory))
                                for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)]
        except Exception as exc:
            notes.append(f"NVML could not list the processes on GPU {device['physical']} "
                         f"({_describe(exc)}).")
        return out
