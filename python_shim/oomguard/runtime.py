"""The shim's state in this process: settings, the sampler, the cell recorder and the comm
bridge.

Everything reachable from user code (enable, disable, snapshot, cells, variables) is
guarded here or in __init__ so that a failure is logged and degrades to "not measured",
never an exception in a cell. One Runtime lives per process (see `get_runtime`), so
`%reload_ext oomguard` keeps the cells recorded so far."""
from __future__ import annotations

import logging
import math
import os
import platform
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

from . import exporters
from . import protocol
from .backfill import SpoolAnswers
from .clusters import ClusterWatch
from .comm import CommBridge
from .guard import SETTINGS as GUARD_SETTINGS, Guard
from .guard.editing import EditPredictions
from .leakwatch import LeakWatch
from .probes.cgroup import oom_kills_path
from .readings import Readings
from .records import CellRecord, CellRecorder
from .sampler import Sampler
from .sizes import scan_namespace
from .spool import Spool, SpoolWriter, default_directory
from .statefile import StateFile, Tally
from .timeline import Timeline

log = logging.getLogger("oomguard")

DEFAULT_INTERVAL = 1.0
SUMMARY_MODES = ("off", "summary", "verbose")
# Seconds a front end that loaded the shim has to open its comm before cells are summed
# up as text again (attach.py): the user's first cell may run before the comm opens.
FRONT_END_GRACE_S = 30.0


def _complain(message: str) -> None:
    """Tell the user about a bad argument without raising (even under -W error)."""
    log.warning(message)
    try:
        warnings.warn(message, stacklevel=5)  # the caller of oomguard.enable()
    except Exception:
        pass


def current_shell():
    """The running IPython shell, or None (plain Python). Never imports IPython."""
    ipython = sys.modules.get("IPython")
    getter = getattr(ipython, "get_ipython", None)
    try:
        return getter() if getter is not None else None
    except Exception:
        return None


class Runtime:
    def __init__(self, shim_version: str):
        self.shim_version = shim_version
        self.interval = DEFAULT_INTERVAL
        self.limit_setting: Optional[int] = None
        self.summary_setting: Optional[str] = None  # None: automatic (see summary_mode)
        self._lock = threading.RLock()
        self._peak_method: Optional[str] = None
        self.readings = Readings()
        self.sampler = Sampler(self.take_reading, self.interval)
        self.recorder = CellRecorder(lambda: self.sampler.latest, lambda: self.interval)
        self.bridge = CommBridge(self.hello, self.take_reading, self.apply_settings,
                                 self.variables_message,
                                 answer_predict=lambda request: self.editing.answer(request),
                                 answer_spool=lambda *args: self.spool_answers.answer(*args))
        self.sampler.add_sink(self.bridge.broadcast)
        self.sampler.add_sink(self.recorder.feed)
        self.recorder.on_start.append(self._cell_started)
        self.recorder.on_record.append(self._cell_recorded)
        # The timeline keeps samples for exports; the spool keeps them on disk, so a
        # kernel killed by the OOM killer leaves its timeline behind.
        self.timeline = Timeline()
        self.spool_setting = None  # None: the default directory; False: no spool
        self.spool: Optional[SpoolWriter] = None  # written on a thread of its own
        self.sampler.add_sink(self.timeline.add_sample)
        # After a restart the front end asks for what the dead kernel spooled (backfill.py).
        self.spool_answers = SpoolAnswers(
            self.spool_directory, lambda: self.spool.path if self.spool is not None else None)
        self.sampler.add_sink(self._spool_sample)
        self.recorder.on_record.append(self._spool_cell)
        self.leaks = LeakWatch(self._user_namespace,
                               lambda: self.recorder.running_cell() is not None)
        self.recorder.on_record.append(self.leaks.cell_finished)
        self.sampler.add_sink(self.leaks.check)
        self.leaks.on_hints.append(self._send_hints)
        self.leaks.on_sizes.append(self._send_sizes)
        self.guard = Guard(self)  # pre-run check, watchdog, hard cap (guard/)
        # The figures a Jupyter server publishes on /metrics (statefile.py, serverext/).
        self.tally = Tally()
        self.recorder.on_record.append(self.tally.cell_recorded)
        self.guard.on_watchdog.append(self.tally.watchdog_fired)
        self.state_file = StateFile(self.tally, lambda: self.interval, self._oom_kills_file)
        self.sampler.add_sink(self.state_file.write_reading)
        self.editing = EditPredictions(self)  # `predict` requests while a cell is edited
        # A Dask cluster's memory per cell, sampled on a thread of its own (clusters/).
        self.clusters = ClusterWatch(self._user_namespace, lambda: self.interval)
        self.recorder.cluster = self.clusters
        self.sampler.add_sink(self.clusters.poke)
        self.enabled = False
        self._dashboard = None
        self._told_oom_group = False  # the text mode says it once per process
        self._front_end_expected_until = 0.0  # time.monotonic(); see expect_front_end

    # -- readings -----------------------------------------------------------------------
    def take_reading(self) -> dict:
        reading = self.readings.take(self.limit_setting)
        reading["running_cell"] = self.recorder.running_cell()
        cluster = self.clusters.figures()
        if cluster is not None:
            reading["cluster"] = cluster
        spool = self.spool
        if spool is not None and spool.note:
            reading["notes"].append(spool.note)
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
        oom_kills, oom_kills_file = self.readings.limits.cgroup.oom_kills()
        oom_group, oom_group_file = self.readings.limits.cgroup.oom_group()
        high_water, high_water_file = self.readings.limits.cgroup.high_water()
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
        namespace = self._user_namespace()
        if namespace is None:
            return [], False, 0.0
        started = time.perf_counter()
        found, truncated = scan_namespace(namespace)
        return list(found), bool(truncated), time.perf_counter() - started

    @staticmethod
    def _user_namespace() -> Optional[dict]:
        shell = current_shell()
        if shell is not None:
            return shell.user_ns
        main = sys.modules.get("__main__")
        return vars(main) if main is not None else None

    def _send_hints(self, hints: list) -> None:
        if self.bridge.open_comms:
            self.bridge.send_all(protocol.hints(hints))

    def _send_sizes(self, execution_count: Optional[int], sizes: dict, cut: bool) -> None:
        if self.bridge.open_comms:
            self.bridge.send_all(protocol.sizes(execution_count, sizes, cut))

    def variables_message(self) -> dict:
        return protocol.variables(*self.scan_variables())

    # -- timeline -----------------------------------------------------------------------
    def export(self, path, format: str) -> List[str]:
        session = self.spool.session() if self.spool is not None else None
        return exporters.export(path, format, self.timeline.samples(),
                               [record.to_dict() for record in self.recorder.records()],
                               session=session)

    def _spool_sample(self, reading: dict) -> None:
        spool = self.spool
        if spool is not None:
            spool.write_sample(reading)

    def _spool_cell(self, record: CellRecord) -> None:
        spool = self.spool
        if spool is not None:
            spool.write_cell(record)

    def _oom_kills_file(self) -> Optional[str]:
        paths = self.readings.limits.cgroup.paths
        return oom_kills_path(paths) if paths is not None else None

    def spool_directory(self) -> Path:
        """Where this kernel's spool is, or would be: a dead kernel's is looked for there."""
        spool = self.spool
        if spool is not None and spool.path is not None:
            return spool.path.parent
        if isinstance(self.spool_setting, (str, os.PathLike)):
            return Path(self.spool_setting).expanduser()
        return default_directory()

    def _open_spool(self) -> None:
        if self.spool is None and self.spool_setting is not False:
            self.spool = SpoolWriter(Spool(directory=self.spool_setting,
                                           session={"interval": self.interval}))

    def _close_spool(self) -> None:
        spool, self.spool = self.spool, None
        if spool is not None:
            spool.close()

    # -- cells --------------------------------------------------------------------------
    def expect_front_end(self) -> None:
        """A front end loaded the shim and is about to open its comm (attach.py): it
        shows the cells itself, so none is summed up as text meanwhile (for at most
        FRONT_END_GRACE_S, in case it never does)."""
        self._front_end_expected_until = time.monotonic() + FRONT_END_GRACE_S

    def summary_mode(self) -> str:
        """The user's choice, else a summary unless a front end (the JupyterLab extension)
        shows the cells itself, or is about to."""
        if self.summary_setting is not None:
            return self.summary_setting
        if self.bridge.open_comms or time.monotonic() < self._front_end_expected_until:
            return "off"
        return "summary"

    def _cell_started(self, running_cell: dict) -> None:
        if self.bridge.open_comms:
            self.bridge.send_all(protocol.cell_start(running_cell))

    def _cell_recorded(self, record: CellRecord) -> None:
        if self.bridge.open_comms:
            self.bridge.send_all(protocol.cell(record.to_dict()))
        mode = self.summary_mode()
        if mode != "off":
            from .render import print_summary
            # Fresh limit figures (a few small files), only because a summary is printed.
            reading = self.readings.limits.read(self.limit_setting, [])
            print_summary(record, reading, mode)

    # -- settings -----------------------------------------------------------------------
    def apply_settings(self, settings: dict) -> None:
        with self._lock:
            for name, value in settings.items():
                if name == "interval":
                    if isinstance(value, bool) or not isinstance(value, (int, float)) \
                            or not math.isfinite(value):
                        _complain(f"oomguard: interval must be a number of seconds, "
                                  f"not {type(value).__name__}; kept {self.interval}")
                        continue
                    self.interval = protocol.clamp_interval(value)
                    self.sampler.set_interval(self.interval)
                elif name == "limit":
                    if value is None:
                        self.limit_setting = None
                    elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                            or not math.isfinite(value) or value <= 0:
                        _complain("oomguard: limit must be a positive number of bytes or None")
                    else:
                        self.limit_setting = int(value)
                elif name == "summary":
                    if value is None or value in SUMMARY_MODES:
                        self.summary_setting = value
                    else:
                        _complain(f"oomguard: summary must be one of {', '.join(SUMMARY_MODES)}"
                                  f" or None; kept {self.summary_setting!r}")
                elif name == "spool":
                    if value is None or value is False or isinstance(value, (str, os.PathLike)):
                        if value != self.spool_setting:
                            self.spool_setting = value
                            self._close_spool()  # reopened where asked by enable()
                    else:
                        _complain("oomguard: spool must be a directory, None (the default "
                                  "directory) or False (no spool)")
                elif name == "clusters":
                    if isinstance(value, bool):
                        self.clusters.enabled = value
                        if not value:
                            self.clusters.stop()
                    else:
                        _complain("oomguard: clusters must be True or False")
                elif name == "torch_peak_reset":
                    if isinstance(value, bool):
                        self.recorder.torch_peak_reset = value
                    else:
                        _complain("oomguard: torch_peak_reset must be True or False")
                elif name in GUARD_SETTINGS:
                    self.guard.apply_setting(name, value, _complain)
                else:
                    _complain(f"oomguard: unknown setting {name!r} ignored")

    # -- lifecycle ----------------------------------------------------------------------
    def enable(self, **settings) -> None:
        with self._lock:
            self.apply_settings(settings)
            self._open_spool()
            self.sampler.start()
            if not self.bridge.registered:
                self.bridge.register()
            shell = current_shell()
            if shell is not None:
                self.recorder.register(shell)
                self._register_magic(shell)
                # After the recorder: the guard's hooks rely on its running cell.
                self.guard.register(shell)
            self.enabled = True
            self._tell_oom_group()

    def _tell_oom_group(self) -> None:
        """Where one OOM kill ends the whole container, say so once in the text mode (a
        front end says it from `hello`)."""
        if self._told_oom_group or self.summary_mode() == "off":
            return
        grouped, where = self.readings.limits.cgroup.oom_group()
        if grouped:
            from .render import oom_group_text
            print(oom_group_text(where))
            self._told_oom_group = True

    def disable(self) -> None:
        with self._lock:
            self.stop_dashboard()
            self.sampler.stop()
            self.clusters.stop()
            self.state_file.stop()
            self.bridge.unregister()
            self.guard.unregister()
            self.recorder.unregister()
            self._close_spool()
            self.enabled = False

    def _register_magic(self, shell) -> None:
        from .render import make_magic
        try:
            # A line magic only: the cell magic %%oomguard belongs to the guard.
            shell.register_magic_function(make_magic(self), "line", "oomguard")
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
