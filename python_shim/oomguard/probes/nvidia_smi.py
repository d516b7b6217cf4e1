"""GPU memory from the ``nvidia-smi`` command, where the NVML Python bindings are missing.

One call starts a process that loads the driver's management library, ~50-100 ms of CPU,
and on a wedged driver it can hang. So it runs only from the sampler thread (gpu.py sees
to that), at most every REFRESH_S seconds with the figures cached in between, under a hard
TIMEOUT_S after which its whole process group is killed, and after a failure it is not
tried again for RETRY_S seconds."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from typing import Callable, List, Optional, Tuple

TIMEOUT_S = 2.0
REFRESH_S = 5.0
RETRY_S = 60.0
REAP_S = 0.5  # after a kill, how long to wait for the process to go before giving up on it
MiB = 1 << 20

GPU_QUERY = ("--query-gpu=index,uuid,name,memory.used,memory.total",
             "--format=csv,noheader,nounits")
APPS_QUERY = ("--query-compute-apps=pid,gpu_uuid,used_memory", "--format=csv,noheader,nounits")

OK, MISSING, FAILED = "ok", "missing", "failed"

_NUMBER = re.compile(r"\d+(\.\d+)?")


class SmiError(Exception):
    """nvidia-smi gave no usable answer; the message says why, in plain words."""


def _field(text: str) -> Optional[str]:
    """A csv field, or None for nvidia-smi's "[N/A]", "[Not Supported]", "N/A", ""."""
    text = text.strip()
    if not text or text.startswith("[") or text.upper() == "N/A":
        return None
    return text


def _mib(text: str) -> Optional[int]:
    value = _field(text)
    if value is None or not _NUMBER.fullmatch(value):
        return None
    return int(float(value) * MiB)


def parse_gpus(text: str) -> Tuple[List[dict], int]:
    """Devices from ``--query-gpu=index,uuid,name,memory.used,memory.total`` output, sorted
    by index, and the number of lines that could not be read."""
    devices, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 5 or not fields[0].strip().isdigit():
            bad += 1
            continue
        devices.append({
            "physical": int(fields[0].strip()),
            "uuid": _field(fields[1]),
            "name": _field(",".join(fields[2:-2])),  # a name may itself contain commas
            "used": _mib(fields[-2]),
            "total": _mib(fields[-1]),
        })
    devices.sort(key=lambda device: device["physical"])
    return devices, bad


def parse_apps(text: str) -> Tuple[List[Tuple[int, Optional[str], Optional[int]]], int]:
    """(pid, gpu uuid, used bytes) from ``--query-compute-apps=pid,gpu_uuid,used_memory``
    output, and the number of lines that could not be read."""
    apps, bad = [], 0
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("No running processes"):
            continue
        fields = line.split(",")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            bad += 1
            continue
        apps.append((int(fields[0].strip()), _field(fields[1]), _mib(fields[2])))
    return apps, bad


def _first_line(*outputs: bytes) -> str:
    for output in outputs:
        for line in output.decode("utf-8", "replace").splitlines():
            if line.strip():
                return line.strip()[:160]
    return "no message"


class SmiBackend:
    def __init__(self, timeout: float = TIMEOUT_S, refresh: float = REFRESH_S,
                 retry: float = RETRY_S, clock: Callable[[], float] = time.monotonic):
        self.timeout, self.refresh, self.retry = timeout, refresh, retry
        self._clock = clock
        self._cached: Optional[Tuple[str, Optional[List[dict]], List[str]]] = None
        self._next_at = 0.0
        self._stuck: Optional[subprocess.Popen] = None  # a killed call that would not end

    def read(self, notes: List[str]) -> Tuple[str, Optional[List[dict]]]:
        """(status, the machine's GPUs) where status is OK, MISSING (no nvidia-smi on PATH)
        or FAILED (with a note). Each GPU: physical, uuid, name, used, total, processes
        (list of (pid, used bytes or None), or None where they could not be read)."""
        now = self._clock()
        if self._cached is None or now >= self._next_at:
            self._cached = self._query()
            self._next_at = now + (self.refresh if self._cached[0] == OK else self.retry)
        status, devices, cached_notes = self._cached
        notes.extend(cached_notes)
        if devices is None:
            return status, None
        return status, [dict(device) for device in devices]

    def _query(self) -> Tuple[str, Optional[List[dict]], List[str]]:
        executable = shutil.which("nvidia-smi")
        if executable is None:
            return MISSING, None, []
        if self._stuck is not None and self._stuck.poll() is None:
            return FAILED, None, ["GPU memory is not measured: an earlier nvidia-smi is still "
                                  "hanging (a stuck GPU driver?)."]
        self._stuck = None
        try:
            devices, bad = parse_gpus(self._run(executable, GPU_QUERY))
        except SmiError as exc:
            return FAILED, None, [f"GPU memory is not measured: {exc}."]
        if not devices:
            return FAILED, None, ["GPU memory is not measured: nvidia-smi listed no GPU "
                                  "oomguard could read."]
        notes = []
        if bad:
            notes.append(f"nvidia-smi printed {bad} line(s) about GPUs that oomguard could not "
                         f"read; those GPUs are left out.")
        try:
            apps, bad_apps = parse_apps(self._run(executable, APPS_QUERY))
            if bad_apps:
                raise SmiError(f"nvidia-smi printed {bad_apps} unreadable line(s) about "
                               f"GPU processes")
        except SmiError as exc:
            apps = None
            notes.append(f"This kernel's share of GPU memory is not measured: {exc}.")
        for device in devices:
            uuid = device["uuid"]
            device["processes"] = None if apps is None or uuid is None else [
                (pid, used) for pid, gpu_uuid, used in apps if gpu_uuid == uuid]
        return OK, devices, notes

    def _run(self, executable: str, args: Tuple[str, ...]) -> str:
        # nvidia-smi lists every GPU whatever CUDA_VISIBLE_DEVICES says; gpu.py filters
        # them, so keep the variable out of its way in case a version starts honouring it.
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        try:
            # A session of its own, so a timeout can kill everything it started.
            proc = subprocess.Popen([executable, *args], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise SmiError(f"nvidia-smi could not be started ({exc.strerror or exc})") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise SmiError(f"nvidia-smi did not answer within {self.timeout:g} s and was "
                           f"stopped") from None
        if proc.returncode != 0:
            raise SmiError(f"nvidia-smi failed (exit status {proc.returncode}): "
                           f"{_first_line(out, err)}")
        return out.decode("utf-8", "replace")

    def _kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass  # it ended meanwhile
        try:
            proc.communicate(timeout=REAP_S)
        except subprocess.TimeoutExpired:
            # Stuck in the driver (uninterruptible): do not wait for it, and start no
            # other nvidia-smi while it lives (see _query).
            self._stuck = proc
            for pipe in (proc.stdout, proc.stderr):
                try:
                    pipe.close()
                except Exception:
                    pass
