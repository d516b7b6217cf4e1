"""A real ipykernel for the benchmarks: execute code, time round trips, read output."""
from __future__ import annotations

import ast
import json
import os
import queue
import sys
import tempfile
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager


class Kernel:
    """An ipykernel on this interpreter (not whatever `python3` is on PATH)."""

    def __init__(self, env: "dict | None" = None):
        """`env`: variables added to the kernel's environment."""
        self._dir = tempfile.TemporaryDirectory(prefix="oomguard-bench-")
        spec = os.path.join(self._dir.name, "bench")
        os.makedirs(spec)
        with open(os.path.join(spec, "kernel.json"), "w") as f:
            json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                       "display_name": "bench", "language": "python"}, f)
        specs = KernelSpecManager(kernel_dirs=[self._dir.name])
        self.km = KernelManager(kernel_name="bench", kernel_spec_manager=specs)
        self.km.start_kernel(**({"env": {**os.environ, **env}} if env else {}))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 120) -> tuple[float, str]:
        """Execute `code`; return (round-trip seconds, the cell's stdout)."""
        self._drain()
        started = time.perf_counter()
        msg_id = self.kc.execute(code)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        elapsed = time.perf_counter() - started
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r} failed: {reply['content'].get('evalue')}")
        return elapsed, self._stdout(msg_id)

    def value(self, expression: str):
        """A Python literal computed in the kernel."""
        msg_id = self.kc.execute("", silent=True, user_expressions={"r": expression})
        while True:
            reply = self.kc.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        result = reply["content"]["user_expressions"]["r"]
        if result["status"] != "ok":
            raise RuntimeError(f"{expression!r} failed: {result.get('evalue')}")
        return ast.literal_eval(result["data"]["text/plain"])

    def open_comm(self, target: str, data: dict) -> str:
        """Open a comm to `target` as a front end does (the reply comes on iopub)."""
        import uuid
        comm_id = uuid.uuid4().hex
        self.kc.shell_channel.send(self.kc.session.msg(
            "comm_open", {"comm_id": comm_id, "target_name": target, "data": data}))
        time.sleep(0.5)  # the kernel handles it when idle; then its answers are drained
        self._drain()
        return comm_id

    def _stdout(self, msg_id: str) -> str:
        """Stream output of one execute, up to its idle status."""
        text = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        return "".join(text)

    def _drain(self):
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.01)
            except queue.Empty:
                return

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        self._dir.cleanup()
