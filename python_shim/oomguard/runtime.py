"""The shim's parts in this process, wired together: readings, the sampler, the cell
recorder, the comm bridge, the timeline and its spool, leak hints, the guard, the state
file and the text summary. Runtime only wires them and runs their lifecycle: each part
owns its settings (settings.py), its state and its output.

Everything reachable from user code (enable, disable, snapshot, cells, variables) is
guarded here or in __init__ so that a failure is logged and degrades to "not measured",
never an exception in a cell. One Runtime lives per process (see `get_runtime`), so
`%reload_ext oomguard` keeps the cells recorded so far."""
from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import time
from typing import List, Optional, Tuple

from . import exporters
from . import protocol
from .backfill import SpoolAnswers
from .clusters import ClusterWatch
from .comm import CommBridge
from .guard import Guard
from .guard.editing import EditPredictions
from .leakwatch import LeakWatch
from .probes.cgroup import oom_kills_path
from .readings import Readings
from .records import CellRecord, CellRecorder
from .sampler import Sampler
from .settings import complain
from .sizes import scan_namespace
from .spooling import SpoolKeeper
from .statefile import StateFile, Tally
from .summary import TextSummary
from .timeline import Timeline

log = logging.getLogger("oomguard")

DEFAULT_INTERVAL = 1.0
LIMITS_AGE = 5.0  # seconds the summary's limit figures may be (the sampler's, normally)


def current_shell():
    """The running IPython shell, or None (plain Python). Never imports IPython."""
    ipython = sys.modules.get("IPython")
    getter = getattr(ipython, "get_ipython", None)
    try:
        return getter() if getter is not None else None
    except Exception:
        return None


def user_namespace() -> Optional[dict]:
    shell = current_shell()
    if shell is not None:
        return shell.user_ns
    main = sys.modules.get("__main__")
    return vars(main) if main is not None else None


class Runtime:
    def __init__(self, shim_version: str):
        self.shim_version = shim_version
        self._lock = threading.RLock()
        self._peak_method: Optional[str] = None
        self.readings = Readings()
        self.sampler = Sampler(self.take_reading, DEFAULT_INTERVAL)
        interval = lambda: self.sampler.interval  # noqa: E731
        latest = lambda: self.sampler.latest  # noqa: E731
        self.recorder = CellRecorder(latest, interval)
        # The timeline keeps samples for exports; the spool keeps them on disk, so a
        # kernel killed by the OOM killer leaves its timeline behind.
        self.timeline = Timeline()
        self.spool = SpoolKeeper(interval)
        # After a restart the front end asks for what the dead kernel spooled (backfill.py).
        self.spool_answers = SpoolAnswers(self.spool.directory, lambda: self.spool.path)
        self.leaks = LeakWatch(user_namespace, lambda: self.recorder.running_cell() is not None)
        self.bridge = CommBridge(self.hello, self.take_reading, self.apply_settings,
                                 self.variables_message,
                                 answer_predict=lambda request: self.editing.answer(request),
                                 answer_spool=self.spool_answers.answer)
        # Pre-run check, watchdog, hard cap (guard/), and `predict` requests while a cell
        # is edited, through the narrow views of guard/collaborators.py.
        self.guard = Guard(self.recorder, self.readings, latest, self.bridge)
        self.editing = EditPredictions(self.guard, self.recorder.running_cell)
        # The figures a Jupyter server publishes on /metrics (statefile.py, serverext/).
        self.tally = Tally()
        self.state_file = StateFile(self.tally, interval, self._oom_kills_file)
        self.summary = TextSummary(
            lambda: self.bridge.open_comms,
            lambda rss: self.readings.limits_moved(rss, max(LIMITS_AGE, 2 * interval())),
            lambda: self.readings.limits.cgroup.oom_group())
        # A Dask cluster's memory per cell, sampled on a thread of its own (clusters/).
        self.clusters = ClusterWatch(user_namespace, interval)

        for sink in (self.bridge.broadcast, self.recorder.feed, self.timeline.add_sample,
                     self.spool.write_sample, self.leaks.check,
                     self.state_file.write_reading, self.clusters.poke):
            self.sampler.add_sink(sink)
        self.recorder.cluster = self.clusters
        self.recorder.on_start.append(self.bridge.cell_started)
        self.recorder.on_record.extend((self.bridge.cell_recorded, self.summary.cell_recorded,
                                        self.spool.write_cell, self.leaks.cell_finished,
                                        self.tally.cell_recorded))
        self.leaks.on_hints.append(self.bridge.hints)
        self.leaks.on_sizes.append(self.bridge.sizes)
        self.guard.on_watchdog.append(self.tally.watchdog_fired)
        # A cell's cell_start goes out from the watchdog's thread once the cell has run a
        # while (comm.py), so that a short cell sends only its record.
        self.guard.watchdog.on_watching.append(self.bridge.cell_running)
        # Who owns each setting of oomguard.enable() (settings.py).
        self._settings = {name: part for part in (self.sampler, self.readings, self.summary,
                                                  self.spool, self.recorder, self.guard,
                                                  self.clusters)
                          for name in part.SETTINGS}
        self.enabled = False
        self._dashboard = None
        self._magics = None

    @property
    def interval(self) -> float:
        return self.sampler.interval

    # -- readings -----------------------------------------------------------------------
    def take_reading(self) -> dict:
        reading = self.readings.take()
        reading["running_cell"] = self.recorder.running_cell()
        cluster = self.clusters.figures()
        if cluster is not None:
            reading["cluster"] = cluster
        note = self.spool.note
        if note:
            reading["notes"].append(note)
        return reading

    def snapshot(self) -> dict:
        message = protocol.sample(self.take_reading())
        del message["v"], message["type"]
        return message

    @property
    def peak_method(self) -> str:
        if self.recorder.registered:
            return self.recorder.peak_method
        if self._peak_method is None:  # not hooked into IPython: what enable would find
            self._peak_method = self.recorder.rss.check()
        return self._peak_method

    def hello(self) -> dict:
        cgroup = self.readings.limits.cgroup
        oom_kills, oom_kills_file = cgroup.oom_kills()
        oom_group, oom_group_file = cgroup.oom_group()
        high_water, high_water_file = cgroup.high_water()
        return protocol.hello(shim_version=self.shim_version, pid=os.getpid(),
                              interval=self.interval, python=platform.python_version(),
                              peak_method=self.peak_method, oom_kills=oom_kills,
                              oom_kills_file=oom_kills_file, oom_group=oom_group,
                              oom_group_file=oom_group_file, cgroup_peak=high_water,
                              cgroup_peak_file=high_water_file)

    def cells(self) -> List[CellRecord]:
        return self.recorder.records()

    def scan_variables(self) -> Tuple[list, bool, float]:
        """(variables, truncated, seconds) over the user's namespace."""
        namespace = user_namespace()
        if namespace is None:
            return [], False, 0.0
        started = time.perf_counter()
        found, truncated = scan_namespace(namespace)
        return list(found), bool(truncated), time.perf_counter() - started

    def variables_message(self) -> dict:
        return protocol.variables(*self.scan_variables())

    def export(self, path, format: str) -> List[str]:
        return exporters.export(path, format, self.timeline.samples(),
                                [record.to_dict() for record in self.recorder.records()],
                                session=self.spool.session())

    def _oom_kills_file(self) -> Optional[str]:
        paths = self.readings.limits.cgroup.paths
        return oom_kills_path(paths) if paths is not None else None

    def expect_front_end(self) -> None:
        """attach.py: a front end is about to open its comm (TextSummary.expect_front_end)."""
        self.summary.expect_front_end()

    # -- settings -----------------------------------------------------------------------
    def apply_settings(self, settings: dict) -> None:
        """Each setting to the part that owns it; that part checks the value."""
        with self._lock:
            for name, value in settings.items():
                part = self._settings.get(name)
                if part is None:
                    complain(f"oomguard: unknown setting {name!r} ignored")
                else:
                    part.apply_setting(name, value, complain)

    # -- lifecycle ----------------------------------------------------------------------
    def enable(self, **settings) -> None:
        with self._lock:
            self.apply_settings(settings)
            self.spool.open()
            self.sampler.start()
            if not self.bridge.registered:
                self.bridge.register()
            shell = current_shell()
            if shell is not None:
                self.recorder.register(shell)
                self._register_magics(shell)
                # After the recorder: the guard's hooks rely on its running cell.
                self.guard.register(shell)
            self.enabled = True
            self.summary.tell_oom_group()

    def disable(self) -> None:
        with self._lock:
            self.stop_dashboard()
            self.sampler.stop()
            self.clusters.stop()
            self.state_file.stop()
            self.bridge.unregister()
            self.guard.unregister()
            self.recorder.unregister()
            self.spool.close()
            self.enabled = False

    def _register_magics(self, shell) -> None:
        """%oomguard and %%oomguard (magics.py), once per shell."""
        if self._magics is not None and self._magics.shell is shell:
            return
        try:
            from .magics import OomguardMagics  # IPython is running: we are in its shell
            self._magics = OomguardMagics(shell, self)
            shell.register_magics(self._magics)
        except Exception:
            log.warning("oomguard: could not register %%oomguard", exc_info=True)

    def dashboard(self):
        from .render import Dashboard
        with self._lock:
            self.stop_dashboard()
            self._dashboard = Dashboard(self)
        return self._dashboard.show()

    def stop_dashboard(self) -> None:
        board, self._dashboard = self._dashboard, None
        if board is not None:
            board.stop()


_runtime: Optional[Runtime] = None
_runtime_lock = threading.Lock()


def get_runtime(shim_version: str) -> Runtime:
    """The process's one Runtime (this module is not reloaded by %reload_ext)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(shim_version)
        return _runtime
