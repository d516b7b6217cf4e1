"""The "oomguard" comm target: front ends open a comm, get `hello` and samples on it.

Handlers may run on the shell thread, a subshell thread (JupyterLab 4.4+ with
ipykernel 7) or the sampler thread, so the set of open comms is guarded by a lock.
Sending from the sampler thread is safe: ipykernel hands iopub messages to its IO thread.
Nothing here raises; a comm whose send fails (kernel shutting down) is dropped.

A short cell sends nothing on its path but what it must: each comm message costs the
shell thread its serialising and signing, and ipykernel's IO thread then bids for the
GIL while the cell runs and its reply is on its way (docs/benchmarks.md, "Per cell").
So a cell's `cell_start` waits until the cell has run LIVE_AFTER seconds (the watchdog's
thread sends it, `cell_running`), and is never sent for a cell that ends sooner; its
`cell` record goes out after the cell's execute_reply (`cell_recorded`). Whatever else is
sent meanwhile goes after them, so a front end sees the usual order: `cell_start` (where
sent) before the cell's samples and warning, its `cell` before anything later."""
from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from typing import Callable, Dict, Optional

from . import protocol
from .afterreply import after_reply

log = logging.getLogger("oomguard")

# Seconds a cell runs before a front end is told it started (`cell_start`): a cell that
# ends sooner shows its record at once, and nobody watches a running badge that long.
LIVE_AFTER = 0.025


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
        # The running cell's cell_start until it is sent (or the cell ends first), and
        # the records to send once the shell's event loop is free again (after the
        # reply), oldest first; under _in_order, which every send holds, so that they go
        # out before anything sent after them.
        self._start: Optional[dict] = None
        self._after_reply: list = []
        self._in_order = threading.RLock()

    @property
    def registered(self) -> bool:
        return self._manager is not None

    @property
    def open_comms(self) -> int:
        # Asked several times a cell: one len() of a dict is atomic under the GIL; the
        # lock guards the changes and copies that take several steps.
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
        with self._in_order:
            self._start, self._after_reply = None, []
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
            with self._in_order:
                self._send_held()
                for comm in comms:
                    self._send(comm, message)

    # -- what the other parts tell the front ends (listeners; only with a comm open) ----
    def cell_started(self, running_cell: dict) -> None:
        """Recorder listener (shell thread): held until the cell has run LIVE_AFTER
        (`cell_running`), something else is sent first, or the guard says the cell must
        be told now (`tell_cell_start`: no watchdog to tell it later, or a cell that
        could be killed before)."""
        if self.open_comms:
            with self._in_order:
                self._start = running_cell

    def tell_cell_start(self) -> None:
        """The guard (shell thread, just after cell_started): send the cell_start now."""
        if self._start is not None:
            self.send_held()

    def cell_running(self) -> None:
        """Watchdog listener (its thread, each poll while a cell runs): the running cell's
        `cell_start`, once it has run LIVE_AFTER seconds."""
        start = self._start
        if start is not None and time.time() - start["start"] >= LIVE_AFTER:
            self.send_held()

    def cell_recorded(self, record) -> None:
        """Recorder listener (the end of the cell, before its execute_reply). A cell_start
        still held is dropped: the record says all it would. The record is sent once the
        shell's event loop runs again, after the reply; where none runs on this thread
        (not a kernel), at once."""
        with self._in_order:
            self._start = None
            if not self.open_comms:
                return
            self._after_reply.append(record)
            first = len(self._after_reply) == 1
        if first:  # later ones go with it
            after_reply(self.send_held)

    def send_held(self) -> None:
        """What is held (see _send_held): after a reply, once a cell has run a while, or
        when the guard says now."""
        with self._in_order:
            self._send_held()

    def _send_held(self) -> None:
        """The held records, oldest first, then a held cell_start (the cell after them):
        under _in_order."""
        start, self._start = self._start, None
        records, self._after_reply = self._after_reply, []
        messages = []
        for record in records:
            try:
                messages.append(protocol.cell(record.to_dict()))
            except Exception:
                log.warning("oomguard: a cell record could not be sent", exc_info=True)
        if start is not None:
            messages.append(protocol.cell_start(start))
        if messages:
            with self._lock:
                comms = list(self._comms.values())
            for message in messages:
                for comm in comms:
                    self._send(comm, message)

    def hints(self, hints: list) -> None:
        """LeakWatch listener."""
        if self.open_comms:
            self.send_all(protocol.hints(hints))

    def sizes(self, execution_count: Optional[int], sizes: dict, cut: bool) -> None:
        """LeakWatch listener."""
        if self.open_comms:
            self.send_all(protocol.sizes(execution_count, sizes, cut))

    def send_all(self, message: dict) -> None:
        """One message (cell_start, cell, ...) to every open comm, after the records held
        for after the reply."""
        with self._in_order:
            self._send_held()
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
