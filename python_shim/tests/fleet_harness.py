"""A real Jupyter server (with oomguard's server extension, enabled by the installed
config as on any install) and a real Prometheus that scrapes it, on free loopback ports,
for tests/test_fleet_prometheus.py, benchmarks/fleet.py and docs/fleet.md's screenshot.

Kernels are started through the server's REST API and driven through their connection
files (jupyter_client), as a notebook front end would."""
from __future__ import annotations

import ast
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator, List, Optional

from jupyter_client import BlockingKernelClient

from oomguard.statefile import STATE_FORMAT, STATE_VERSION, state_file_name

# Ports other engineers' servers use on this machine: never ours.
RESERVED_PORTS = range(8888, 8896)


def free_port() -> int:
    """A free loopback port, picked at random."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        if port in RESERVED_PORTS:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def http(url: str, token: Optional[str] = None, method: str = "GET",
         body: Optional[dict] = None, timeout: float = 10) -> tuple:
    """(status, body bytes) of one request; HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(check: Callable[[], object], timeout: float, what: str, poll: float = 0.25):
    """The first truthy value of check(), or an AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as error:  # not up yet
            last = error
        else:
            if last:
                return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class JupyterServer:
    """`jupyter server` with a token, its own runtime and config directories."""

    def __init__(self, workdir: Path, args: List[str] = (), env: Optional[dict] = None):
        self.workdir = Path(workdir)
        self.runtime_dir = self.workdir / "runtime"
        self.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in ("root", "config"):
            (self.workdir / name).mkdir(exist_ok=True)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "server.log"
        env = dict(os.environ if env is None else env, JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
                   JUPYTER_CONFIG_DIR=str(self.workdir / "config"))
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.workdir / 'root'}", *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.process.poll() is None and
                   http(f"{self.url}/api/status", self.token, timeout=2)[0] == 200,
                   60, f"the Jupyter server (log: {self.log_path})")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, path: str, method: str = "GET", body: Optional[dict] = None):
        status, data = http(f"{self.url}{path}", self.token, method, body)
        return status, (json.loads(data) if data.strip() else None)

    def start_kernel(self) -> "RestKernel":
        status, model = self.api("/api/kernels", "POST", {"name": "python3"})
        assert status == 201, (status, model)
        return RestKernel(self, model["id"])

    def kernel_ids(self) -> List[str]:
        return [model["id"] for model in self.api("/api/kernels")[1]]

    def stop(self) -> None:
        for kernel_id in self.kernel_ids() if self.process.poll() is None else []:
            self.api(f"/api/kernels/{kernel_id}", "DELETE")
        _stop(self.process)
        self._log.close()


class RestKernel:
    """A kernel the server started, driven through its connection file."""

    def __init__(self, server: JupyterServer, kernel_id: str):
        self.server = server
        self.id = kernel_id
        self.connection_file = server.runtime_dir / f"kernel-{kernel_id}.json"
        wait_until(self.connection_file.exists, 30, "the kernel's connection file")
        self.connect()

    def connect(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.client = BlockingKernelClient(connection_file=str(self.connection_file))
            self.client.load_connection_file()
            self.client.start_channels()
            try:
                self.client.wait_for_ready(timeout=max(1, deadline - time.monotonic()))
                break
            except RuntimeError:  # no heartbeat yet from a kernel still starting: again
                self.client.stop_channels()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.pid = self.evaluate("__import__('os').getpid()")

    def run(self, code: str, timeout: float = 60) -> dict:
        """Execute like a notebook cell; the execute_reply's content."""
        reply = self.client.execute_interactive(code, store_history=True, timeout=timeout,
                                                output_hook=lambda msg: None)
        return reply["content"]

    def send(self, code: str) -> None:
        """Execute without waiting (a cell that will not come back)."""
        self.client.execute(code, store_history=True)

    def evaluate(self, expression: str):
        reply = self.client.execute_interactive("", silent=True, timeout=60,
                                                user_expressions={"r": expression},
                                                output_hook=lambda msg: None)
        result = reply["content"]["user_expressions"]["r"]
        assert result["status"] == "ok", result
        return ast.literal_eval(result["data"]["text/plain"])

    def shutdown(self) -> None:
        self.client.stop_channels()
        status, _ = self.server.api(f"/api/kernels/{self.id}", "DELETE")
        assert status == 204, status


class Prometheus:
    """Debian's `prometheus`, scraping `targets` every `interval` on loopback."""

    def __init__(self, workdir: Path, jobs: List[dict], interval: str = "1s"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        # JSON is YAML: no YAML writer needed.
        config.write_text(json.dumps({
            "global": {"scrape_interval": interval, "scrape_timeout": interval,
                       "evaluation_interval": interval},
            "scrape_configs": jobs}, indent=1))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [prometheus_binary(), f"--config.file={config}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.process.poll() is None and
                   http(f"{self.url}/-/ready", timeout=2)[0] == 200,
                   60, f"Prometheus (log: {self.log_path})")

    def query(self, expression: str) -> list:
        """The instant vector of `expression`: [(labels, float value)]."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        status, body = http(url)
        answer = json.loads(body)
        assert status == 200 and answer["status"] == "success", (expression, answer)
        return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]

    def value(self, expression: str) -> Optional[float]:
        """The single value of `expression`, or None when it has no series."""
        found = self.query(expression)
        assert len(found) <= 1, found
        return found[0][1] if found else None

    def wait_for(self, expression: str, check: Callable[[Optional[float]], bool],
                 timeout: float = 30, what: str = "") -> Optional[float]:
        """Wait until check(value) holds; returns that value."""
        box = []

        def holds():
            value = self.value(expression)
            box[:] = [value]
            return check(value)
        wait_until(holds, timeout, what or expression)
        return box[0]

    def stop(self) -> None:
        _stop(self.process)
        self._log.close()


def prometheus_binary() -> Optional[str]:
    return shutil.which("prometheus")


def jupyter_job(name: str, server: JupyterServer, token: Optional[str]) -> dict:
    job = {"job_name": name, "metrics_path": "/metrics",
           "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}]}
    if token is not None:
        # Sent as "Authorization: Bearer <token>", which Jupyter takes like "token <token>".
        job["authorization"] = {"credentials": token}
    return job


class KernelList:
    """What the collector asks of jupyter_server's MappingKernelManager, for kernels that
    are simulated by state files: {kernel id: connection file}."""

    def __init__(self, connection_files: dict):
        self.kernels = {kernel_id: SimpleNamespace(connection_file=path)
                        for kernel_id, path in connection_files.items()}

    def list_kernel_ids(self):
        return list(self.kernels)

    def get_kernel(self, kernel_id):
        return self.kernels[kernel_id]


def write_state(directory: Path, stem: str, pid: int, **fields) -> Path:
    """A state file for process `pid` of the kernel whose connection file is `stem`.json,
    as a kernel's sampler writes it (statefile.py): `fields` (start_ticks among them)
    replace the defaults."""
    state = {"format": STATE_FORMAT, "version": STATE_VERSION, "pid": pid,
             "start_ticks": None, "t": time.time(), "interval": 1.0, "sampling": True,
             "exited": False, "rss": 100, "limit": 1000, "limit_source": "cgroup v1",
             "gpus": [], "oom_kills": 0,
             "oom_kills_file": "/sys/fs/cgroup/memory/k/memory.oom_control", "cell_peak": 50,
             "cells": {"ok": 0, "error": 0, "blocked": 0, "interrupted": 0},
             "watchdog_interrupts": 0, "risky_cells": 0}
    state.update(fields)
    path = Path(directory) / state_file_name(stem, pid)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(state, separators=(",", ":")))
    os.chmod(temp, 0o600)
    os.replace(temp, path)
    return path


class CgroupUnavailable(Exception):
    """No child memory cgroup can be made here (the reason is the message)."""


@contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """A child of this process's cgroup v1 memory cgroup, limited to `limit` bytes: a
    process written into its cgroup.procs meets the kernel's real OOM killer there.
    Removed afterwards (whatever still runs in it is moved back to the parent first)."""
    try:
        with open("/proc/self/cgroup") as own:
            line = next((entry for entry in own.read().splitlines()
                         if entry.split(":")[1:2] == ["memory"]), None)
    except OSError as error:
        raise CgroupUnavailable(f"/proc/self/cgroup: {error}")
    if line is None:
        raise CgroupUnavailable("no cgroup v1 memory controller for this process")
    parent = Path("/sys/fs/cgroup/memory" + line.split(":", 2)[2].rstrip("/"))
    child = parent / f"oomguard-fleet-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        child.mkdir()
        (child / "memory.limit_in_bytes").write_text(str(limit))
    except OSError as error:
        if child.exists():
            child.rmdir()
        raise CgroupUnavailable(f"cannot make a limited memory cgroup under {parent}: {error}")
    try:
        yield child
    finally:
        deadline = time.monotonic() + 15
        while True:
            try:
                for pid in (child / "cgroup.procs").read_text().split():
                    (parent / "cgroup.procs").write_text(pid)
                child.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
