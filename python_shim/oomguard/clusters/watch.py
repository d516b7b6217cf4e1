"""Per-cell memory of the cluster a notebook drives, sampled on a thread of our own.

The thread asks the engine (engines.py: Dask is sampled; a Ray task killed for memory is
read from the cell's error) for its workers' memory every sampling interval. The cell's
hooks (records.py calls `begin` and `end`) only read what the thread already has, under
a lock: a slow or dead cluster never slows a cell. A call into a cluster that does not
answer within `TIMEOUT` becomes a note in the record.
Workers restarted or lost arrive as `WorkerEvent`s, from the thread or from the client's
own event loop, and go into the record of the cell that was running (or, when none was,
into the next one, marked `idle`)."""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from ..protocol import MAX_NOTES, MAX_WORKER_EVENTS, MAX_WORKERS
from ..sampler import Sampler
from ..sizes.safe import clip
from .base import ClusterSample, NotMeasured, WorkerEvent
from .engines import ENGINES

THREAD_NAME = "oomguard-clusters"
TIMEOUT = 2.0            # seconds any one call into a cluster may take
MIN_CADENCE = 0.5        # small Dask clusters heartbeat every 0.5 s: faster only repeats
SECONDS_PER_WORKER = 0.01  # a 1,000-worker cluster is asked every 10 s at most
MAX_LISTED_WORKERS = MAX_WORKERS  # per_worker keeps the highest peaks
MAX_EVENTS = MAX_WORKER_EVENTS     # restarted and lost entries in one record, together
SLOW_ANSWER = 1.0          # a call in flight this long at a cell's end: not measured


def cadence(interval: float, workers: int) -> float:
    """Seconds between two samples: the shim's interval, no faster than the heartbeats,
    slower for big clusters (each answer carries about 1 KiB per worker)."""
    return max(interval, MIN_CADENCE, SECONDS_PER_WORKER * workers)


def _max(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Window:
    """What the thread saw of the cluster while one cell ran."""
    engine: str
    started: float                        # epoch seconds
    scheduler: Optional[str] = None
    before: Optional[ClusterSample] = None
    before_late: bool = False             # the first sample came after the cell began
    last: Optional[ClusterSample] = None
    samples_during: int = 0
    peak: Optional[int] = None
    per_worker: Dict[str, int] = field(default_factory=dict)
    failures: Dict[str, int] = field(default_factory=dict)
    failed_last: bool = False             # the newest attempt failed
    events: List[WorkerEvent] = field(default_factory=list)
    events_cut: int = 0
    notes: List[str] = field(default_factory=list)
    sampled: bool = True                  # False: made from the cell's error alone

    def add(self, sample: ClusterSample, during: bool) -> None:
        if self.before is None:
            self.before, self.before_late = sample, during
        self.last, self.failed_last = sample, False
        self.scheduler = sample.scheduler or self.scheduler
        self.samples_during += during
        self.peak = _max(self.peak, sample.total)
        for address, memory in sample.workers.items():
            if memory is not None:
                self.per_worker[address] = max(self.per_worker.get(address, 0), memory)

    def failed(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.failed_last = True

    def event(self, event: WorkerEvent) -> None:
        for i, known in enumerate(self.events):
            if known.worker == event.worker and known.kind == event.kind:
                return
            if known.worker == event.worker and event.kind == "restarted":
                self.events[i] = event  # a restart for memory explains a "lost" worker
                return
        if event.kind == "lost" and any(k.worker == event.worker for k in self.events):
            return
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        else:
            self.events_cut += 1

    def record(self, ended: float, every: float, killed: Optional[WorkerEvent]) -> dict:
        """The record's `cluster`; `killed`: the worker the cell's error names."""
        if killed is not None:
            for known in self.events:
                if known.worker == killed.worker:
                    known.task = killed.task  # the worker died running the cell's task
                    break
            else:
                self.event(killed)
        last = self.last
        after = last.total if last is not None and not self.failed_last else None
        per_worker = dict(sorted(self.per_worker.items(), key=lambda kv: -kv[1])
                          [:MAX_LISTED_WORKERS])
        notes = self._notes(ended, every, after, killed)
        if len(self.per_worker) > len(per_worker):
            notes.append(f"per_worker lists the {len(per_worker)} workers with the highest "
                         f"peaks of {len(self.per_worker)}")
        return {
            "engine": self.engine, "scheduler": self.scheduler,
            "workers": last.n_workers if last is not None else None,
            "before": self.before.total if self.before is not None else None,
            "after": after, "peak": _max(self.peak, after),
            "limit": last.limit if last is not None else None,
            "per_worker": per_worker,
            "restarted": [e.to_dict() for e in self.events if e.kind == "restarted"],
            "lost": [e.to_dict() for e in self.events if e.kind == "lost"],
            "notes": [clip(note) for note in dict.fromkeys(notes)][:MAX_NOTES],
        }

    def _notes(self, ended: float, every: float, after: Optional[int],
               killed: Optional[WorkerEvent]) -> List[str]:
        """How the figures were taken, and what was not measured and why."""
        last = self.last
        notes: List[str] = []
        if last is not None:
            notes.append(
                f"cluster memory is the workers' RSS as their heartbeats told the "
                f"scheduler, sampled every {every:g} s: not exact, a peak shorter than "
                f"that can be missed; the last sample was taken "
                f"{max(0.0, ended - last.t):.1f} s before the cell ended")
            if self.samples_during == 0:
                notes.append("no sample fell within the cell: its figures are the last "
                             "sample before it")
            elif self.before_late:
                notes.append(f"before is the first sample, "
                             f"{max(0.0, self.before.t - self.started):.1f} s after the "
                             f"cell began (the Client was new)")
            notes.extend(dict.fromkeys(note for sample in (self.before, last)
                                       if sample is not None for note in sample.notes))
        for reason, count in self.failures.items():
            if last is None:
                notes.append(f"not measured: {reason}")
            else:
                notes.append(f"{count} sample{'s' if count > 1 else ''} around the cell "
                             f"failed: {reason}")
        if last is None and not self.failures and self.sampled:
            notes.append("not measured: no sample of the cluster was taken yet")
        if after is None and last is not None:
            notes.append("after: not measured, the newest sample failed")
        notes.extend(self.notes)
        if killed is not None:
            notes.append(f"the cell's {killed.error or 'error'} comes from the "
                         f"cluster: task {killed.task} was running on {killed.worker} "
                         f"when it was killed")
        if self.events_cut:
            notes.append(f"{self.events_cut} more workers restarted or lost: not listed")
        return notes


class ClusterWatch:
    """Finds a cluster's client in the namespace and samples it; see the module's doc.
    Owns the `clusters` setting (True: watch, the default; False: look at nothing)."""

    SETTINGS = ("clusters",)

    def __init__(self, namespace: Callable[[], Optional[dict]],
                 interval: Callable[[], float], engines=ENGINES):
        self._namespace = namespace
        self._interval = interval
        self._engines = engines
        # Those with a client to sample (Ray's only reads the cell's error).
        self._sampled = tuple(e for e in engines if getattr(e, "Source", None) is not None)
        self._modules = tuple(e.MODULE for e in self._sampled)
        self._lock = threading.Lock()
        # The sampler's thread machinery, paced by `_cadence` (it never raises).
        self._thread = Sampler(self.tick, pace=self._cadence, name=THREAD_NAME)
        self._workers = 0                        # at the last sample: sets the cadence
        self.enabled = True
        self._source = None                      # the engine's view of the client measured
        self._latest: Optional[ClusterSample] = None
        self._failure: Optional[Tuple[str, float]] = None
        self._window: Optional[_Window] = None
        self._idle_events: List[WorkerEvent] = []
        self._restarted: deque = deque(maxlen=200)  # addresses: not "lost" as well
        self._others = 0                         # more clients than the one measured
        self._asking_since: Optional[float] = None  # a call to the cluster in flight

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if not isinstance(value, bool):
            complain("oomguard: clusters must be True or False")
            return
        self.enabled = value
        if not value:
            self.stop()

    # -- the thread -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread.running

    def poke(self, _reading=None) -> None:
        """Sampler sink: start the thread once an engine's module has been imported."""
        if self.enabled and not self.running and self._engine_loaded():
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling and leave the client as it was found (no subscription of ours).
        Does not wait for a call in flight: the thread ends after it (TIMEOUT at most)."""
        self._thread.stop(timeout=0.1)
        with self._lock:
            source, self._source = self._source, None
            self._latest = self._failure = self._window = None
        if source is not None:
            source.close()

    def _cadence(self) -> float:
        return cadence(self._interval(), self._workers)

    def tick(self) -> None:
        """One sample, on the thread."""
        self._workers = 0
        source = self._current_source()
        if source is None:
            return
        self._asking_since = time.time()
        try:
            sample = source.sample(TIMEOUT)
        except NotMeasured as missing:
            with self._lock:
                if source is self._source:
                    self._failure = (missing.reason, time.time())
                    if self._window is not None:
                        self._window.failed(missing.reason)
            return
        finally:
            self._asking_since = None
        self._workers = sample.n_workers
        with self._lock:
            if source is not self._source:
                return
            previous, self._latest, self._failure = self._latest, sample, None
            if self._window is not None:
                self._window.add(sample, during=True)
        if previous is not None:
            for address in previous.workers.keys() - sample.workers.keys():
                if address not in self._restarted:
                    self._lost(source, address, previous)
        for event in source.poll_events(TIMEOUT):
            self.worker_event(event)

    def _lost(self, source, address: str, previous: ClusterSample) -> None:
        try:
            event = source.lost(address, TIMEOUT)
        except NotMeasured as missing:
            event = WorkerEvent("lost", address, f"it left the cluster (the scheduler's "
                                f"reason could not be read: {missing.reason})", None)
        if event is not None:
            if event.limit is None:
                event.limit = previous.limits.get(address)
            self.worker_event(event)

    def _current_source(self):
        """The source for the client in the namespace (the same one while it stays)."""
        found, engine = self._find()
        with self._lock:
            current = self._source
            if current is not None and any(current.client() is c for _, c in found):
                self._others = len(found) - 1
                return current
        if current is not None:
            current.close()
        source = engine.Source(*found[0], self.worker_event) if found else None
        with self._lock:
            self._source, self._latest, self._failure = source, None, None
            self._others = max(0, len(found) - 1)
        return source

    def _find(self, new_only: bool = False) -> tuple:
        """([(name, client)] found in the namespace, their engine); ([], None): none.
        `new_only`: skip engines that say no client exists (a cell's start)."""
        if not self.enabled:
            return [], None
        engines = [engine for engine in self._sampled if engine.MODULE in sys.modules
                   and (not new_only or engine.clients_exist())]
        namespace = self._namespace() if engines else None
        if type(namespace) is not dict:
            return [], None
        items = list(namespace.items())  # one C-level copy: safe while cells change it
        for engine in engines:
            found = engine.find(items)
            if found:
                return found, engine
        return [], None

    def _still_there(self, source) -> bool:
        """Whether the namespace still holds the source's client: O(1) under the name it
        was found by, else one look over the namespace."""
        client = source.client()
        if client is None:
            return False
        namespace = self._namespace()
        if type(namespace) is dict and namespace.get(source.name) is client:
            return True
        found, _ = self._find()
        return any(c is client for _, c in found)

    def _engine_loaded(self) -> bool:
        modules = sys.modules
        for name in self._modules:  # a plain loop: on every cell's start
            if name in modules:
                return True
        return False

    # -- events (any thread) --------------------------------------------------------------
    def worker_event(self, event: WorkerEvent) -> None:
        with self._lock:
            if event.kind == "restarted":
                self._restarted.append(event.worker)
            latest = self._latest
            if event.limit is None and latest is not None:
                event.limit = latest.limits.get(event.worker)
            if self._window is not None:
                self._window.event(event)
            elif len(self._idle_events) < MAX_EVENTS:
                event.idle = True
                self._idle_events.append(event)

    # -- the cell's path (shell thread): reads only ---------------------------------------
    def begin(self) -> None:
        # Nothing watched and no engine imported (the common case): no cost beyond this.
        if self._source is None and self._window is None and not self._engine_loaded():
            return
        try:
            with self._lock:
                source, latest, failure = self._source, self._latest, self._failure
                self._window = None
            if source is not None and not self._still_there(source):
                source = None  # deleted since the last sample: the thread drops it soon
            if source is None:
                # A client the thread has not seen yet (made by the cell before): look,
                # unless the engine says no client exists at all.
                found, engine = self._find(new_only=True)
                if not found:
                    return  # no cluster: the record has no `cluster` field
                window = _Window(engine.NAME, time.time())  # the thread adopts it soon
            else:
                window = _Window(source.engine, time.time(), scheduler=source.scheduler)
                if latest is not None and (failure is None or failure[1] < latest.t):
                    window.add(latest, during=False)
                elif failure is not None:
                    window.failed(failure[0])
            with self._lock:
                if self._others:
                    window.notes.append(f"{self._others + 1} clients are in the namespace: "
                                        f"measured the one connected to {window.scheduler}")
                for event in self._idle_events:
                    window.event(event)
                self._idle_events.clear()
                self._window = window
        except Exception as exc:
            self._thread.log_once("begin", exc)

    def end(self, error: Optional[BaseException] = None) -> Optional[dict]:
        """The record's `cluster` dict, or None where no cluster was seen."""
        if error is None and self._window is None:
            return None  # no cluster: the record has no `cluster` field
        try:
            ended = time.time()
            with self._lock:
                window, self._window = self._window, None
                source = self._source
            killed, engine = self._cell_error(error)
            if window is None:
                if killed is None:
                    return None  # no cluster: the record has no `cluster` field
                window = _Window(engine.NAME, ended, sampled=False)
                window.notes.append(engine.UNSAMPLED)
            asking = self._asking_since
            if asking is not None and window.samples_during == 0 \
                    and ended - asking > SLOW_ANSWER:
                window.failed(f"the scheduler has not answered for {ended - asking:.1f} s")
            every = cadence(self._interval(), window.last.n_workers if window.last else 0)
            return window.record(ended, every, killed)
        except Exception as exc:
            self._thread.log_once("end", exc)
            return None

    def _cell_error(self, error: Optional[BaseException]) -> tuple:
        """(the WorkerEvent the cell's exception names, its engine), or (None, None)."""
        if error is not None:
            for engine in self._engines:
                if engine.MODULE in sys.modules:
                    killed = engine.cell_error(error)
                    if killed is not None:
                        return killed, engine
        return None, None

    # -- for readings (sampler thread) ----------------------------------------------------
    def figures(self) -> Optional[dict]:
        """The newest cluster figures for a `sample`: {"engine", "memory", "limit",
        "workers"}; memory None while the cluster does not answer. None: no cluster."""
        with self._lock:
            source, latest, failure = self._source, self._latest, self._failure
        if source is None:
            return None
        if latest is None or (failure is not None and failure[1] >= latest.t):
            return {"engine": source.engine, "memory": None, "limit": None, "workers": None}
        return {"engine": source.engine, "memory": latest.total, "limit": latest.limit,
                "workers": latest.n_workers}
