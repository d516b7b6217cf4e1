"""The "oomguard" comm target: front ends open a comm, get `hello` and samples on it.

Handlers may run on the shell thread, a subshell thread (JupyterLab 4.4+ with
ipykernel 7) or the sampler thread, so the set of open comms is guarded by a lock.
Sending from the sampler thread is safe: ipykernel hands iopub messages to its IO thread.
Nothing here raises; a comm whose send fails (kernel shutting down) is dropped."""
from __future__ import annotations

import functools
import logging
import sys
import threading
from typing import Callable, Dict, Optional

from . import protocol

log = logging.getLogger("oomguard")


def find_comm_manager():
    """The running ipykernel's comm manager, or None outside a kernel (terminal IPython)."""
    ipython_mod = sys.modules.get("IPython")
    ip = ipython_mod.get_ipython() if ipython_mod is not None else None
    kernel = getattr(ip, "kernel", None)
    if kernel is None:
        return None
    # ipykernel >= 6.2x replaces comm.get_comm_manager with its own; only then is the
    # `comm` package's manager the kernel's (otherwise it is an unconnected default).
    comm_pkg = sys.modules.get("comm")
    getter = getattr(comm_pkg, "get_comm_manager", None)
    if getter is not None and getattr(getter, "__module__", "").startswith("ipykernel"):
        return getter()
    return getattr(kernel, "comm_manager", None)


class CommBridge:
    def __init__(self, hello: Callable[[], dict], take_reading: Callable[[], dict],
                 apply_settings: Callable[[dict], None],
                 answer_variables: Optional[Callable[[], dict]] = None,
                 answer_predict: Optional[Callable[[dict], dict]] = None,
                 answer_spool: Optional[Callable[..., None]] = None):
        self._hello = hello
        self._take_reading = take_reading
        self._apply_settings = apply_settings
        self._answer_variables = answer_variables  # -> a `variables` message
        self._answer_predict = answer_predict  # predict request -> a `prediction` message
        # (pid, since, reply): answers a `spool` request later, from a thread of its own
        self._answer_spool = answer_spool
        self._comms: Dict[str, object] = {}
        self._lock = threading.Lock()
        self._manager = None
        self._failed_sends = 0

    @property
    def registered(self) -> bool:
        return self._manager is not None

    @property
    def open_comms(self) -> int:
        with self._lock:
            return len(self._comms)

    def register(self) -> bool:
        manager = find_comm_manager()
        if manager is None:
            log.debug("oomguard: no Jupyter kernel here; the comm target is not registered")
            return False
        try:
            manager.register_target(protocol.TARGET_NAME, self._on_open)
            self._manager = manager
            return True
        except Exception:
            log.warning("oomguard: could not register the comm target", exc_info=True)
            return False

    def unregister(self) -> None:
        with self._lock:
            comms, self._comms = list(self._comms.values()), {}
        for comm in comms:
            try:
                comm.close()
            except Exception:
                pass  # the front end may be gone already
        manager, self._manager = self._manager, None
        if manager is not None:
            try:
                manager.unregister_target(protocol.TARGET_NAME, self._on_open)
            except Exception:
                pass  # not registered (any more)

    def broadcast(self, reading: dict) -> None:
        """Sampler sink: one sample to every open comm."""
        with self._lock:
            comms = list(self._comms.values())
        if comms:
            message = protocol.sample(reading)
            for comm in comms:
                self._send(comm, message)

    # -- what the other parts tell the front ends (listeners; only with a comm open) ----
    def cell_started(self, running_cell: dict) -> None:
        """Recorder listener."""
        if self.open_comms:
            self.send_all(protocol.cell_start(running_cell))

    def cell_recorded(self, record) -> None:
        """Recorder listener."""
        if self.open_comms:
            self.send_all(protocol.cell(record.to_dict()))

    def hints(self, hints: list) -> None:
        """LeakWatch listener."""
        if self.open_comms:
            self.send_all(protocol.hints(hints))

    def sizes(self, execution_count: Optional[int], sizes: dict, cut: bool) -> None:
        """LeakWatch listener."""
        if self.open_comms:
            self.send_all(protocol.sizes(execution_count, sizes, cut))

    def send_all(self, message: dict) -> None:
        """One message (cell_start, cell, ...) to every open comm."""
        with self._lock:
            comms = list(self._comms.values())
        for comm in comms:
            self._send(comm, message)

    def _send(self, comm, message: dict) -> bool:
        try:
            comm.send(message)
            return True
        except Exception:
            self._forget(comm)
            self._failed_sends += 1
            if self._failed_sends == 1:
                log.warning("oomguard: sending on a comm failed; it was dropped", exc_info=True)
            return False

    def _forget(self, comm, _msg=None) -> None:
        with self._lock:
            self._comms.pop(getattr(comm, "comm_id", id(comm)), None)

    def _on_open(self, comm, msg) -> None:
        try:
            data = (msg.get("content") or {}).get("data")
            request = protocol.parse_incoming(data)
            if request is None or request["type"] != "open":
                self._send(comm, protocol.error(
                    f"oomguard could not understand the comm open request; this kernel "
                    f"speaks protocol v{protocol.PROTOCOL_VERSION}."))
                comm.close()
                return
            comm.on_msg(functools.partial(self._on_msg, comm))
            comm.on_close(functools.partial(self._forget, comm))
            # hello first, then a sample at once; only then may the sampler send on it.
            if self._send(comm, self._hello()) and \
                    self._send(comm, protocol.sample(self._take_reading())):
                with self._lock:
                    self._comms[getattr(comm, "comm_id", id(comm))] = comm
        except Exception:
            log.warning("oomguard: handling a comm open failed", exc_info=True)

    def _on_msg(self, comm, msg) -> None:
        try:
            request = protocol.parse_incoming((msg.get("content") or {}).get("data"))
            if request is None:
                return
            if request["type"] == "settings":
                self._apply_settings({k: v for k, v in request.items()
                                      if k != "type" and v is not None})
                hello = self._hello()  # interval is kernel-wide: tell every front end
                with self._lock:
                    comms = list(self._comms.values())
                if all(other is not comm for other in comms):
                    comms.append(comm)
                for other in comms:
                    self._send(other, hello)
            elif request["type"] == "refresh":
                self._send(comm, protocol.sample(self._take_reading()))
            elif request["type"] == "variables":
                if self._answer_variables is not None:
                    self._send(comm, self._answer_variables())
            elif request["type"] == "predict":
                if self._answer_predict is not None:
                    self._send(comm, self._answer_predict(request))
            elif request["type"] == "spool":
                if self._answer_spool is not None:
                    self._answer_spool(request["pid"], request["since"],
                                       functools.partial(self._send, comm))
            else:
                protocol.drop_warnings("a second 'open' on an open comm")
        except Exception:
            log.warning("oomguard: handling a comm message failed", exc_info=True)
