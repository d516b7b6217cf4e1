"""Dask: the memory of a `distributed` cluster whose Client is in the user's namespace.

Where each figure comes from, the cheapest reliable source that runs nothing on the
workers (checked against distributed 2026.8):

- Worker memory: the scheduler's `identity` handler (what `Client.scheduler_info()`
  asks for), whose per-worker `metrics["memory"]` is the worker process's RSS as its
  last heartbeat carried it (every 0.5 s on small clusters). About 1 KiB per worker.
- Workers restarted for memory: before it terminates a worker past
  `distributed.worker.memory.terminate`, the nanny publishes a `worker-restart-memory`
  event (worker, pid, rss) on the scheduler. We subscribe to that topic on the user's
  Client: the event is pushed to the Client's loop ahead of the KilledWorker error that
  ends the cell. Where the user's own code holds that topic's handler, we leave it alone
  and read the topic with each sample instead.
- Workers that left otherwise (killed by the OOM killer, crashed): an address missing
  from one sample to the next; its own event topic holds the scheduler's `remove-worker`
  event with the stimulus that removed it.
- KilledWorker: the cell's own exception names the task and the worker it died on.

The client is recognised by exact type identity with `distributed.Client` (never a
subclass, whose code could be anyone's); its state is read from its instance dict. Every
call runs on the Client's own event loop (its thread), bounded on both sides: the
coroutine by `asyncio.wait_for`, our wait by `Future.result(timeout)`; while one call is
in flight no other is sent, so a stuck loop never piles them up."""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
import types
import weakref
from typing import Any, Callable, List, Optional, Tuple

from ..sizes.safe import clip, instance_dict, module_attr
from .base import ClusterSample, NotMeasured, WorkerEvent

NAME = "dask"
MODULE = "distributed"
# Said where a KilledWorker ends a cell while no Client is in the namespace.
UNSAMPLED = "no distributed.Client in the namespace: the cluster's memory was not sampled"
RESTART_TOPIC = "worker-restart-memory"
CLOSED = ("closing", "closed")  # a Client the user closed is no cluster any more
MAX_ADDRESS = 200
TIMEOUTS = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)
_ARGS = BaseException.__dict__["args"]

# The scheduler's stimulus names (distributed/scheduler.py, nanny.py) in plain words.
STIMULI = (
    ("handle-worker-cleanup", "its connection to the scheduler closed (the process died "
                              "or the network failed)"),
    ("nanny-close", "its nanny unregistered it (the worker process exited)"),
    ("check-worker-ttl", "it stopped sending heartbeats (worker TTL)"),
    ("worker-close", "it closed itself"),
)


def _client_type():
    return module_attr("distributed", "Client") or module_attr("distributed.client", "Client")


def clients_exist() -> bool:
    """False only where distributed's own registry of Clients (`Client._instances`, a
    WeakSet of every Client not yet collected) is empty: then no namespace holds one and
    a cell's start need not look. True where that registry cannot be read."""
    client_type = _client_type()
    if client_type is None:
        return False
    instances = type.__dict__["__dict__"].__get__(client_type).get("_instances")
    return type(instances) is not weakref.WeakSet or len(instances) > 0


def find(items: List[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
    """(name, client) for each distinct `distributed.Client` among the namespace's
    (name, value) pairs, recognised by exact type."""
    client_type = _client_type()
    if client_type is None:
        return []
    found: list = []
    for name, value in items:
        if type(value) is client_type and all(value is not known for _, known in found) \
                and (instance_dict(value) or {}).get("status") not in CLOSED:
            found.append((name, value))
    return found


def _text(value: Any, limit: int = MAX_ADDRESS) -> Optional[str]:
    return clip(value)[:limit] if type(value) is str else None


def _int(value: Any) -> Optional[int]:
    return value if type(value) is int and value >= 0 else None


def key_text(key: Any, depth: int = 0) -> str:
    """A task key (str, or a tuple of str and int) as text, without calling repr on
    anything that is not a plain str, int or tuple."""
    if type(key) is str:
        return clip(key)
    if type(key) is int:
        return str(int.__str__(key))
    if type(key) is tuple and depth < 3:
        return "(" + ", ".join(key_text(part, depth + 1) for part in key[:8]) + ")"
    return "?"


def removal_reason(stimulus: Any) -> str:
    """A `remove-worker` event's stimulus id in plain words."""
    if type(stimulus) is str:
        for prefix, words in STIMULI:
            if stimulus.startswith(prefix):
                return words
        return clip(f"the scheduler removed it ({stimulus})")
    return "the scheduler removed it"


def cell_error(error: BaseException) -> Optional[WorkerEvent]:
    """The worker and task a KilledWorker error names (read, never repr'd)."""
    killed_type = module_attr("distributed.scheduler", "KilledWorker")
    if killed_type is None or type(error) is not killed_type:
        return None
    args = _ARGS.__get__(error)
    if type(args) is not tuple or len(args) < 2:
        return None
    worker = None
    state_type = module_attr("distributed.scheduler", "WorkerState")
    if state_type is not None and type(args[1]) is state_type:
        slot = state_type.__dict__.get("address")
        try:
            worker = _text(slot.__get__(args[1])) if slot is not None else None
        except Exception:
            worker = None
    return WorkerEvent("lost", worker or "?", "it died while running the cell's task "
                       "(KilledWorker)", None, task=key_text(args[0]), error="KilledWorker")


class Source:
    """One Client: samples its cluster, watches its workers' restarts for memory."""

    engine = NAME

    def __init__(self, name, client, on_event: Callable[[WorkerEvent], None]):
        self.name = name  # where the namespace holds it: checked in O(1) at each cell
        self.client = weakref.ref(client)
        self._on_event = on_event
        self._inflight: Optional[concurrent.futures.Future] = None
        self._inflight_since = 0.0
        self._subscribed = False      # our handler holds RESTART_TOPIC on the Client
        self._poll_restarts = False   # the user's does: read the topic with each sample
        self._restarts_seen = 0.0     # the newest restart event read by polling
        rpc = (instance_dict(client) or {}).get("scheduler")
        self.scheduler = _text((instance_dict(rpc) or {}).get("addr")) \
            if rpc is not None else None

    # -- calls on the Client's loop ------------------------------------------------------
    def _call(self, op: str, timeout: float, **kwargs) -> Any:
        client = self.client()
        state = instance_dict(client) if client is not None else None
        if state is None:
            raise NotMeasured("the Client is gone")
        status = state.get("status")
        if status != "running":
            raise NotMeasured(f"the Client is {_text(status, 40) or 'not running'}")
        if state.get("_asynchronous") is True:
            raise NotMeasured("an asynchronous Client shares the kernel's own event loop, "
                              "which a running cell holds: not sampled")
        loop = _asyncio_loop(state)
        if loop is None:
            raise NotMeasured("the Client's event loop is not running")
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            raise NotMeasured(f"the scheduler has not answered for "
                              f"{time.monotonic() - self._inflight_since:.0f} s")
        rpc = state.get("scheduler")
        if rpc is None:
            raise NotMeasured("the Client has no scheduler connection")

        async def ask():
            return await asyncio.wait_for(getattr(rpc, op)(**kwargs), timeout)

        coroutine = ask()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed since we looked
            coroutine.close()  # else Python warns, into the user's cell, that it never ran
            raise NotMeasured("the Client's event loop is not running") from None
        self._inflight, self._inflight_since = future, time.monotonic()
        try:
            return future.result(timeout + 0.5)
        except TIMEOUTS:
            raise NotMeasured(f"the scheduler did not answer in {timeout:g} s") from None
        except OSError as error:  # distributed's CommClosedError is one
            raise NotMeasured(f"the scheduler could not be reached "
                              f"({type(error).__name__})") from None
        except Exception as error:
            raise NotMeasured(f"asking the scheduler failed ({type(error).__name__})") \
                from None

    # -- what the watch asks ---------------------------------------------------------------
    def sample(self, timeout: float) -> ClusterSample:
        info = self._call("identity", timeout)
        if type(info) is not dict or type(info.get("workers")) is not dict:
            raise NotMeasured("the scheduler's answer had no workers")
        self._watch_restarts()
        memory, limits, in_process = {}, {}, 0
        for address, worker in info["workers"].items():
            address = _text(address)
            if address is None or type(worker) is not dict:
                continue
            if address.startswith("inproc://"):
                in_process += 1  # a thread of this kernel: its memory is the kernel's own
                continue
            metrics = worker.get("metrics")
            memory[address] = _int(metrics.get("memory")) if type(metrics) is dict else None
            limits[address] = _int(worker.get("memory_limit"))
        notes = ()
        if in_process:
            notes = (f"{in_process} worker{'s run' if in_process > 1 else ' runs'} inside "
                     f"this kernel (LocalCluster(processes=False)): counted in the kernel's "
                     f"own RAM, not here",)
        scheduler = _text(info.get("address")) or self.scheduler
        self.scheduler = scheduler
        return ClusterSample(time.time(), scheduler, len(memory), memory, limits, notes)

    def lost(self, address: str, timeout: float) -> Optional[WorkerEvent]:
        """Why `address` left the cluster; None where it was retired on purpose."""
        events = self._call("events", timeout, topic=address)
        for stamp, message in reversed(list(events) if type(events) in (list, tuple)
                                       else []):
            if type(message) is dict and message.get("action") == "remove-worker":
                if message.get("expected") is True:
                    return None  # retired or scaled down, not a death
                return WorkerEvent("lost", address,
                                   removal_reason(message.get("stimulus_id")),
                                   stamp if type(stamp) is float else None)
        return WorkerEvent("lost", address, "it left the cluster (the scheduler gave no "
                                            "reason)", None)

    def poll_events(self, timeout: float) -> List[WorkerEvent]:
        """Restarts for memory, read from the topic where we could not subscribe."""
        if not self._poll_restarts:
            return []
        try:
            events = self._call("events", timeout, topic=RESTART_TOPIC)
        except NotMeasured:
            return []
        found = []
        for event in list(events) if type(events) in (list, tuple) else []:
            restart = restart_event(event)
            if restart is not None and (restart.t or 0.0) > self._restarts_seen:
                found.append(restart)
        self._restarts_seen = max([self._restarts_seen] + [e.t or 0.0 for e in found])
        return found

    # -- the restart topic ---------------------------------------------------------------
    def _watch_restarts(self) -> None:
        if self._subscribed or self._poll_restarts:
            return
        client = self.client()
        handlers = (instance_dict(client) or {}).get("_event_handlers") \
            if client is not None else None
        if type(handlers) is not dict or RESTART_TOPIC in handlers:
            self._poll_restarts = True  # the user's handler: never replace it
            return
        client.subscribe_topic(RESTART_TOPIC, self._on_restart)
        self._subscribed = True

    def _is_ours(self, handler: Any) -> bool:
        # Identity, not ==: a handler of the user's could define __eq__.
        return type(handler) is types.MethodType and handler.__self__ is self

    def _on_restart(self, event) -> None:
        """Runs on the Client's loop: cheap, and never raises into it."""
        try:
            restart = restart_event(event)
            if restart is not None:
                self._on_event(restart)
        except Exception:
            pass

    def close(self) -> None:
        """Leave the Client as we found it: our topic handler removed, on the Client's own
        loop where it runs (its event dispatch reads the handlers there)."""
        client = self.client()
        if not self._subscribed or client is None:
            return
        self._subscribed = False
        state = instance_dict(client) or {}
        handlers = state.get("_event_handlers")

        def drop() -> None:
            if type(handlers) is dict and self._is_ours(handlers.get(RESTART_TOPIC)):
                try:
                    client.unsubscribe_topic(RESTART_TOPIC)
                except Exception:
                    pass  # a closed Client: the scheduler dropped it with the Client
                handlers.pop(RESTART_TOPIC, None)

        loop = _asyncio_loop(state)
        try:
            if loop is not None:
                loop.call_soon_threadsafe(drop)
                return
        except RuntimeError:
            pass  # closed since we looked
        drop()  # no loop runs: nothing can race with us


def restart_event(event: Any) -> Optional[WorkerEvent]:
    """A `worker-restart-memory` event, (timestamp, {"worker", "pid", "rss"})."""
    if type(event) not in (list, tuple) or len(event) != 2 or type(event[1]) is not dict:
        return None
    stamp, message = event
    worker = _text(message.get("worker"))
    if worker is None:
        return None
    rss = _int(message.get("rss"))
    event = WorkerEvent("restarted", worker, "its nanny restarted it for exceeding the "
                        "memory limit (distributed.worker.memory.terminate)",
                        float(stamp) if type(stamp) in (int, float) else None, rss=rss)
    pid = _int(message.get("pid"))
    if pid is not None:
        event.extra["pid"] = pid
    return event


def _asyncio_loop(state: dict) -> Optional[asyncio.AbstractEventLoop]:
    """The running asyncio loop under the Client's tornado IOLoop, or None."""
    loop = state.get("_Client__loop") or state.get("loop")
    if loop is None:
        runner = instance_dict(state.get("_loop_runner"))
        loop = runner.get("_loop") if runner else None
    inner = (instance_dict(loop) or {}).get("asyncio_loop") if loop is not None else None
    if not isinstance(inner, asyncio.AbstractEventLoop):
        return None
    if inner.is_closed() or not inner.is_running():
        return None
    return inner
