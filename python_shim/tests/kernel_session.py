"""A real ipykernel, started with this interpreter, and helpers to talk to it."""
from __future__ import annotations

import ast
import contextlib
import json
import os
import queue
import sys
import threading
import time
import uuid

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

import protocol_check

TIMEOUT = 30


class KernelSession:
    def __init__(self, tmp_dir, connection_file=None, argv=None, cwd=None):
        """`connection_file`: where the kernel's connection file goes (default: a temp
        file of jupyter_client's choosing). `argv` replaces the kernel's command (e.g.
        real_cgroup.kernel_argv: a kernel in a cgroup). `cwd`: the kernel's working
        directory (JupyterLab's is the notebook's folder)."""
        # Our own kernelspec so the kernel runs on sys.executable, whatever is on PATH.
        spec_dir = os.path.join(str(tmp_dir), "kernels", "oomguard-pytest")
        os.makedirs(spec_dir, exist_ok=True)
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump({"argv": argv or [sys.executable, "-m", "ipykernel_launcher", "-f",
                                        "{connection_file}"],
                       "display_name": "oomguard pytest", "language": "python"}, f)
        ksm = KernelSpecManager(kernel_dirs=[os.path.dirname(spec_dir)])
        self.km = KernelManager(kernel_name="oomguard-pytest", kernel_spec_manager=ksm,
                                **({"connection_file": str(connection_file)}
                                   if connection_file else {}))
        self.km.start_kernel(**({"cwd": str(cwd)} if cwd is not None else {}))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages = []  # (receive time, iopub message), appended by the reader thread
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_iopub, daemon=True)
        self._reader.start()

    def _read_iopub(self):
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            except Exception:
                if self._stop.is_set():
                    return
                continue
            with self._cond:
                self.messages.append((time.time(), msg))
                self._cond.notify_all()
            # The tests open comms to oomguard only: each message the kernel sends on one is
            # checked against schema/protocol.json at the end of the test (conftest.py).
            if msg["msg_type"] == "comm_msg":
                protocol_check.capture("kernel", msg["content"].get("data"))

    def shutdown(self):
        self._stop.set()
        self._reader.join(5)
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    # --- shell ---------------------------------------------------------------------
    def execute(self, code, silent=False, user_expressions=None, timeout=TIMEOUT):
        msg_id = self.kc.execute(code, silent=silent, user_expressions=user_expressions or {})
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                assert reply["content"]["status"] == "ok", reply["content"]
                return reply["content"]

    def run(self, code, metadata=None, timeout=TIMEOUT, on_sent=None):
        """Execute like a notebook does (store_history, execute_request metadata such as
        JupyterLab's {"cellId": ...}); whatever the outcome, return (reply content, the
        iopub messages of this request up to its idle status). `on_sent()` runs once the
        request is sent (e.g. to interrupt it)."""
        msg = self.kc.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False}, metadata=metadata or {})
        msg_id = msg["header"]["msg_id"]
        since = self.mark()
        self.kc.shell_channel.send(msg)
        if on_sent is not None:
            on_sent()
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        with self._cond:
            while True:
                mine = [m for _, m in self.messages[since:]
                        if m["parent_header"].get("msg_id") == msg_id]
                if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                       for m in mine):
                    return reply["content"], mine
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for the kernel to go idle"
                self._cond.wait(left)

    def evaluate(self, expression):
        """The value of a Python literal expression in the kernel, via a silent execute."""
        content = self.execute("", silent=True, user_expressions={"r": expression})
        result = content["user_expressions"]["r"]
        assert result["status"] == "ok", result
        return ast.literal_eval(result["data"]["text/plain"])

    # --- comms -----------------------------------------------------------------------
    def open_comm(self, data, target="oomguard"):
        comm_id = uuid.uuid4().hex
        self._send_shell("comm_open", {"comm_id": comm_id, "target_name": target, "data": data})
        return comm_id

    def comm_send(self, comm_id, data):
        self._send_shell("comm_msg", {"comm_id": comm_id, "data": data})

    def _send_shell(self, msg_type, content):
        self.kc.shell_channel.send(self.kc.session.msg(msg_type, content))

    def mark(self):
        with self._cond:
            return len(self.messages)

    def comm_messages(self, comm_id, since=0, kind=None, msg_type="comm_msg"):
        with self._cond:
            found = self.messages[since:]
        out = []
        for received, msg in found:
            content = msg["content"]
            if msg["msg_type"] == msg_type and content.get("comm_id") == comm_id:
                data = content.get("data") or {}
                if kind is None or data.get("type") == kind:
                    out.append((received, data))
        return out

    def wait_comm(self, comm_id, kind=None, since=0, count=1, timeout=10, msg_type="comm_msg"):
        """Wait until `count` matching messages arrived after index `since`; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.comm_messages(comm_id, since, kind, msg_type)
                if len(found) >= count:
                    return [data for _, data in found]
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {count} {kind or msg_type} (got {len(found)})"
                self._cond.wait(left)


@contextlib.contextmanager
def kernel_in_memory_cgroup(tmp_dir, limit, purpose="kernel"):
    """A KernelSession whose kernel runs under a real memory limit: a fresh
    real_cgroup.MemoryCgroup of `limit` bytes. Yields (session, group); however the block
    ends, the kernel is shut down and the group (with anything left in it) removed."""
    from real_cgroup import MemoryCgroup, kernel_argv
    group = MemoryCgroup(limit, purpose)
    session = None
    try:
        session = KernelSession(tmp_dir, argv=kernel_argv(group))
        yield session, group
    finally:
        try:
            if session is not None:
                session.shutdown()
        finally:
            group.remove()
