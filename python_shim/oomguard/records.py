"""One record per executed cell, taken by IPython's pre_run_cell / post_run_cell hooks.

The hooks stay cheap (a clear_refs write and a few small /proc reads: well under a
millisecond) and never scan variables. Silent executes fire no hooks, so a front end
loading the shim never shows up as a cell. Nothing here raises into the user's cell:
IPython would print a traceback for a failing hook, so every hook catches everything —
at the end of a cell a KeyboardInterrupt too (a stop-button press that comes after the
cell's code is over must not cost its record or the listeners after it)."""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Callable, List, Optional

from .peaks import ContainerPeak, GpuPeaks, RssPeak, RunningMax

log = logging.getLogger("oomguard")

MAX_RECORDS = 10_000


@dataclass
class CellRecord:
    """What one cell cost. Bytes are absolute (the kernel's RSS); None is "not measured"."""

    execution_count: Optional[int]
    cell_id: Optional[str]
    start: float                   # epoch seconds
    duration: float                # seconds
    ram_before: Optional[int]
    ram_after: Optional[int]
    ram_peak: Optional[int]
    gpu: List[dict] = field(default_factory=list)  # {"index", "before", "after", "peak"}
    status: str = "ok"             # "ok", "error", "blocked", "interrupted"
    findings: list = field(default_factory=list)
    peak_method: str = "hwm"       # "hwm": exact (VmHWM); "sampled": the sampler's maximum
    container_peak: Optional[int] = None  # cgroup v2 memory.peak over the cell
    notes: List[str] = field(default_factory=list)
    stopped_by: Optional[str] = None  # "watchdog": oomguard interrupted it to save the kernel
    cluster: Optional[dict] = None  # a Dask cluster's memory over the cell (clusters/)

    @property
    def ram_delta(self) -> Optional[int]:
        if self.ram_after is None or self.ram_before is None:
            return None
        return self.ram_after - self.ram_before

    @property
    def ram_peak_delta(self) -> Optional[int]:
        if self.ram_peak is None or self.ram_before is None:
            return None
        return self.ram_peak - self.ram_before

    def to_dict(self) -> dict:
        """The protocol's CellRecord (docs/protocol.md): plain JSON-ready values."""
        record = {name: getattr(self, name) for name in _SCALARS}
        record.update(ram_delta=self.ram_delta, ram_peak_delta=self.ram_peak_delta,
                      gpu=[dict(entry) for entry in self.gpu],
                      findings=[_plain(finding) for finding in self.findings],
                      notes=list(self.notes))
        if self.cluster is not None:  # absent, not null, where no cluster was seen
            record["cluster"] = dict(self.cluster)
        return record


_SCALARS = ("execution_count", "cell_id", "start", "duration", "ram_before", "ram_after",
            "ram_peak", "status", "peak_method", "container_peak", "stopped_by")


def _plain(finding):
    """A finding as a dict: the predictor's objects offer to_dict() or are dataclasses."""
    if hasattr(finding, "to_dict"):
        return finding.to_dict()
    if is_dataclass(finding) and not isinstance(finding, type):
        return asdict(finding)
    return finding


def classify_status(result) -> str:
    """ok / error / blocked / interrupted from IPython's ExecutionResult."""
    rejected = getattr(sys.modules.get("IPython.core.error"), "InputRejected", None)
    for exc in (getattr(result, "error_before_exec", None),
                getattr(result, "error_in_exec", None)):
        if exc is None:
            continue
        if rejected is not None and isinstance(exc, rejected):
            return "blocked"  # an input transformer refused the cell (the guard does this)
        if isinstance(exc, KeyboardInterrupt):
            return "interrupted"
        return "error"
    return "ok"


@dataclass
class _Running:
    info: object
    execution_count: Optional[int]
    cell_id: Optional[str]
    start: float
    started: float                 # perf_counter
    shell_count: int               # shell.execution_count seen at pre_run_cell
    method: str = "sampled"
    ram_before: Optional[int] = None
    container: bool = False
    findings: list = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    status: Optional[str] = None   # set by the guard's watchdog: "interrupted"

    def public(self) -> dict:
        return {"execution_count": self.execution_count, "cell_id": self.cell_id,
                "start": self.start}


def _cell_id(shell, info) -> Optional[str]:
    # ipykernel hands the execute_request's metadata.cellId (JupyterLab, Notebook 7 and
    # VS Code send it) to IPython, which puts it on ExecutionInfo (checked with IPython 9).
    cell_id = getattr(info, "cell_id", None)
    if cell_id is None:
        try:  # an IPython without cell_id: read the request's metadata from ipykernel
            cell_id = (shell.kernel.get_parent().get("metadata") or {}).get("cellId")
        except Exception:
            cell_id = None
    return cell_id if isinstance(cell_id, str) else None


class CellRecorder:
    """Registers the hooks and keeps the last MAX_RECORDS records. Owns the
    `torch_peak_reset` setting.

    Listeners: `on_start(running_cell_dict)` and `on_record(CellRecord)` callbacks run on
    the shell thread; each is isolated, a failing one is logged and skipped."""

    def __init__(self, latest_reading: Callable[[], Optional[dict]],
                 interval: Callable[[], float], max_records: int = MAX_RECORDS):
        self._latest_reading = latest_reading
        self._interval = interval
        self._records: deque = deque(maxlen=max(1, int(max_records)))
        self._lock = threading.Lock()
        self._stack: List[_Running] = []   # nested run_cell calls: only the outermost counts
        self._shell = None
        self._count_offset = 1             # IPython >= 8 counts the cell before pre_run_cell
        self.rss = RssPeak()
        self.container = ContainerPeak()
        self.gpus = GpuPeaks()
        self.running_max = RunningMax()
        self.torch_peak_reset = True
        # begin() at the start, end(error) -> dict or None at the end; never raise and
        # only read what their own thread has (clusters/watch.py).
        self.cluster = None
        self.on_start: List[Callable[[dict], None]] = []
        self.on_record: List[Callable[[CellRecord], None]] = []
        # Seconds the measuring part of both hooks took, per cell, for the last 100 cells
        # (listeners such as the comm and the printed summary not included): the cost we
        # promise to keep low (well under a millisecond).
        self.overheads: deque = deque(maxlen=100)
        self._pre_overhead = 0.0

    SETTINGS = ("torch_peak_reset",)

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if isinstance(value, bool):
            self.torch_peak_reset = value
        else:
            complain("oomguard: torch_peak_reset must be True or False")

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def registered(self) -> bool:
        return self._shell is not None

    @property
    def peak_method(self) -> str:
        return self.rss.method

    def register(self, shell) -> bool:
        """Hook into `shell` (idempotent); check once which peaks are available."""
        if self._shell is shell:
            return True
        self.unregister()
        self.rss.check()
        self.container.open()
        try:
            shell.events.register("pre_run_cell", self._pre_run_cell)
            shell.events.register("post_run_cell", self._post_run_cell)
        except Exception:
            log.warning("oomguard: could not register the cell hooks", exc_info=True)
            self._unhook(shell)
            return False
        self._shell = shell
        return True

    def unregister(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            self._unhook(shell)
        with self._lock:
            self._stack.clear()
        self.running_max.stop()
        self.container.close()

    def _unhook(self, shell) -> None:
        for event, hook in (("pre_run_cell", self._pre_run_cell),
                            ("post_run_cell", self._post_run_cell)):
            try:
                shell.events.unregister(event, hook)
            except Exception:
                pass  # was not registered

    # -- reading ------------------------------------------------------------------------
    def records(self) -> List[CellRecord]:
        with self._lock:
            return list(self._records)

    def last_record(self) -> Optional[CellRecord]:
        with self._lock:
            return self._records[-1] if self._records else None

    def running_ram_before(self) -> Optional[int]:
        """The running cell's RSS at its start (for "so far" figures), or None."""
        with self._lock:
            return self._stack[0].ram_before if self._stack else None

    def running_cell(self) -> Optional[dict]:
        with self._lock:
            return self._stack[0].public() if self._stack else None

    def feed(self, reading: dict) -> None:
        """Sampler sink: the running maximum that the sampled peak relies on."""
        self.running_max.feed(reading)

    def attach_findings(self, findings: list) -> None:
        """For the predictor: findings about the cell now running go into its record."""
        with self._lock:
            if self._stack:
                self._stack[0].findings.extend(findings)

    def add_note(self, note: str) -> None:
        """For the guard: a note about the cell now running, into its record."""
        with self._lock:
            if self._stack:
                self._stack[0].notes.append(note)

    def mark_interrupted(self, note: str) -> None:
        """For the guard's watchdog (any thread): the running cell was interrupted to save
        the kernel; its record says "interrupted" even if the cell caught the interrupt."""
        with self._lock:
            if self._stack:
                self._stack[0].status = "interrupted"
                self._stack[0].notes.append(note)

    # -- hooks --------------------------------------------------------------------------
    def _pre_run_cell(self, info=None) -> None:
        try:
            began = time.perf_counter()
            shell = self._shell
            if shell is None:
                return
            with self._lock:
                nested = bool(self._stack)
            store_history = getattr(info, "store_history", True)
            shell_count = getattr(shell, "execution_count", None)
            count = shell_count - self._count_offset \
                if store_history and isinstance(shell_count, int) else None
            running = _Running(info, count, _cell_id(shell, info), time.time(), began,
                               shell_count if isinstance(shell_count, int) else -1)
            if nested:  # user code calling run_cell: part of the outer cell's cost
                with self._lock:
                    self._stack.append(running)
                return
            latest = self._latest_reading() or {}
            self.running_max.start()
            running.method, running.ram_before = self.rss.begin(running.notes)
            running.container = self.container.reset()
            self.gpus.begin(latest.get("gpus"), self.torch_peak_reset)
            if self.cluster is not None:
                self.cluster.begin()
            with self._lock:
                self._stack.append(running)
            self._pre_overhead = time.perf_counter() - began
            self._notify(self.on_start, running.public())
        except Exception:
            log.warning("oomguard: pre_run_cell failed", exc_info=True)

    def _post_run_cell(self, result=None) -> None:
        try:
            began = time.perf_counter()
            with self._lock:
                info = getattr(result, "info", None)
                if not self._stack or (info is not None and self._stack[-1].info is not info):
                    return  # a cell whose start we did not see (empty, or enabled mid-cell)
                running = self._stack.pop()
                if self._stack:
                    return  # a nested run_cell ended; the outer cell goes on
            record = self._finish(running, result)
            with self._lock:
                self._records.append(record)
            self.overheads.append(self._pre_overhead + time.perf_counter() - began)
            self._notify(self.on_record, record)
        except KeyboardInterrupt:
            log.warning("oomguard: an interrupt after the cell ended cut its record short")
        except Exception:
            log.warning("oomguard: post_run_cell failed", exc_info=True)

    def _finish(self, running: _Running, result) -> CellRecord:
        duration = time.perf_counter() - running.started
        sampled_rss, sampled_gpus = self.running_max.stop()
        notes = running.notes
        after, peak, method = self.rss.end(running.method, sampled_rss, running.ram_before,
                                           self._interval(), notes)
        container_peak = self.container.read() if running.container else None
        latest = self._latest_reading() or {}
        gpu = self.gpus.end(latest.get("gpus"), sampled_gpus)
        cluster = self.cluster.end(getattr(result, "error_in_exec", None)) \
            if self.cluster is not None else None
        count = running.execution_count
        result_count = getattr(result, "execution_count", None)
        if count is not None and isinstance(result_count, int):
            # Learn how this IPython counts (it moved the increment before the hook in 8.x).
            self._count_offset = running.shell_count - result_count
            count = result_count
        return CellRecord(
            execution_count=count, cell_id=running.cell_id, start=running.start,
            duration=duration, ram_before=running.ram_before, ram_after=after, ram_peak=peak,
            gpu=gpu, status=running.status or classify_status(result),
            findings=list(running.findings),
            peak_method=method, container_peak=container_peak,
            notes=list(dict.fromkeys(notes)),
            # Only the watchdog sets a status while the cell runs.
            stopped_by="watchdog" if running.status else None, cluster=cluster)

    @staticmethod
    def _notify(listeners, payload) -> None:
        for listener in list(listeners):
            try:
                listener(payload)
            except (Exception, KeyboardInterrupt):
                log.warning("oomguard: a cell listener failed", exc_info=True)
