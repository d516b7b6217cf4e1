"""The guard: before a cell runs, ask the predictor and warn or block (precheck.py); while
it runs, the watchdog (watchdog.py) and the optional hard cap (hardcap.py) keep the kernel
alive. docs/guard.md says what each can and cannot stop.

Hook order matters and is set by Runtime.enable: the recorder's hooks are registered first,
so at our pre_run_cell the recorder already holds the running cell (findings and the
watchdog's note go into its record), and at our post_run_cell the record is written.

IPython runs, per cell: pre_execute (here: count it), pre_run_cell (here: arm the
watchdog, note whether the cell is allowed), the input transformers (here: strip a first
line `%%oomguard allow`), parse, then the AST transformers (here: predict, then warn or
raise InputRejected), the code, post_execute (here: disarm), post_run_cell (here: say why
a cell was stopped).

The watchdog is disarmed at post_execute, the first thing IPython does after the cell's
code, before any post_run_cell hook: oomguard's own end-of-cell work (the record, the
comm, the spool, the printed summary) must never be interrupted by it. post_execute also
ends silent and nested executes, so only the one that ends the armed cell disarms (the
count of executes running on the main thread, where cells run)."""
from __future__ import annotations

import logging
import math
import sys
import threading
from typing import Callable, List, Optional

from . import text
from .hardcap import HardCap
from .precheck import PreCheck, allows, strip_allow_line
from .release import release
from .verdict import DEFAULT_MODE, MODES
from .growth import Growth
from .collaborators import Figures, FrontEnd, LatestReading, RunningCell
from .watchdog import (MIN_FURTHER_GROWTH, Arming, Firing, Watchdog, further_growth_trigger,
                       kernel_rss, near_trigger)

log = logging.getLogger("oomguard")

DEFAULT_WATCHDOG = 0.95
SETTINGS = ("mode", "watchdog", "hard_cap")
LIMIT_TTL = 5.0  # seconds a limit reading is reused for arming (limits rarely change)


def _allocation_failed(exc) -> bool:
    """A failed allocation, as Python (MemoryError) and PyTorch (RuntimeError) report it."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError) and exc.args and isinstance(exc.args[0], str):
        message = exc.args[0]
        return "not enough memory" in message or "can't allocate memory" in message
    return False


class Guard:
    """`cells`: the running cell's record; `figures` and `latest`: the memory figures it
    judges by (measured now, or the sampler's); `front_end`: where warnings go when a
    front end is attached (collaborators.py). Owns the mode, watchdog and hard_cap
    settings."""

    SETTINGS = SETTINGS

    def __init__(self, cells: RunningCell, figures: Figures, latest: LatestReading,
                 front_end: FrontEnd):
        self.cells = cells
        self.figures = figures
        self.latest = latest
        self.front_end = front_end
        self.mode = DEFAULT_MODE
        self.watchdog_fraction: Optional[float] = DEFAULT_WATCHDOG
        self.hard_cap = False
        # A callable like oomguard.predict; None: the predictor module, where installed.
        self.predictor: Optional[Callable] = None
        self.shell = None
        self._depth = 0
        # Executes running on the main thread (pre_execute .. post_execute), and how many
        # were running when the watchdog was armed: the post_execute that brings the
        # count back below that ends the armed cell.
        self._executes = 0
        self._armed_at: Optional[int] = None
        self._firing: Optional[Firing] = None  # taken at post_execute, said at post_run_cell
        # pre_run_cell calls so far (shell thread only): an edit-time prediction compares
        # it before and after, to drop what it found if a cell started meanwhile.
        self.cells_started = 0
        # pre_execute calls so far, silent executes too: the namespace may have changed
        # since an edit-time prediction unless this is where it was (precheck.py).
        self.executes_started = 0
        self._allow_next = False
        self._precheck = PreCheck(self)
        self._rss = kernel_rss
        self.watchdog = Watchdog(self._watchdog_fired)
        # Called on the watchdog thread as it interrupts a cell (quick, must not raise).
        self.on_watchdog: List[Callable[[Firing], None]] = []
        self.cap = HardCap()

    # -- settings -----------------------------------------------------------------------
    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if name == "mode":
            if value in MODES:
                self.mode = value
            else:
                complain(f"oomguard: mode must be one of {', '.join(MODES)}; kept {self.mode!r}")
        elif name == "watchdog":
            if value is None or value is False:
                self.watchdog_fraction = None
                self.watchdog.disarm()
            elif value is True:
                self.watchdog_fraction = DEFAULT_WATCHDOG
            elif isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1:
                self.watchdog_fraction = float(value)
            else:
                complain("oomguard: watchdog must be a fraction of the limit in (0, 1], "
                         f"or None/False for none; kept {self.watchdog_fraction!r}")
        elif name == "hard_cap":
            if isinstance(value, bool):
                self.hard_cap = value
                if not value:
                    self.cap.restore()
            else:
                complain("oomguard: hard_cap must be True or False")

    def allow_next(self) -> None:
        """The next cell runs without the pre-run check (warn or block)."""
        self._allow_next = True

    def release(self) -> str:
        """%oomguard release (release.py): drop the last error's traceback, say what it
        gave back, in the figure the watchdog reads."""
        reader, what = self._reader(self.figures.limits_now())
        return release(self.shell, lambda: (reader(), what))

    # -- lifecycle ----------------------------------------------------------------------
    def register(self, shell) -> None:
        try:
            self._register(shell)
        except Exception:
            log.warning("oomguard: could not set up the guard", exc_info=True)

    def _register(self, shell) -> None:
        if self.shell is not shell:
            self.unregister()
            for event, hook in self._hooks():
                shell.events.register(event, hook)
            self.shell = shell
        if self._precheck not in shell.ast_transformers:
            shell.ast_transformers.append(self._precheck)
        cleanup = getattr(shell, "input_transformers_cleanup", None)
        if cleanup is not None and strip_allow_line not in cleanup:
            cleanup.append(strip_allow_line)
        self.watchdog.start()

    def unregister(self) -> None:
        shell, self.shell = self.shell, None
        self.watchdog.stop()
        self.cap.restore()
        self._depth, self._precheck.pending = 0, None
        self._executes, self._armed_at, self._firing = 0, None, None
        if shell is None:
            return
        for event, hook in self._hooks():
            try:
                shell.events.unregister(event, hook)
            except Exception:
                pass
        for hooks, item in ((shell.ast_transformers, self._precheck),
                            (getattr(shell, "input_transformers_cleanup", []), strip_allow_line)):
            while item in hooks:
                hooks.remove(item)

    def _hooks(self):
        return (("pre_execute", self._pre_execute), ("pre_run_cell", self._pre_run_cell),
                ("post_execute", self._post_execute), ("post_run_cell", self._post_run_cell))

    # -- readings -----------------------------------------------------------------------
    def _cgroup_usage(self) -> Optional[int]:
        return self.figures.container_usage()

    def _reader(self, limits: dict):
        if str(limits.get("limit_source")).startswith("cgroup"):
            return self._cgroup_usage, "the container's memory"
        return self._rss, "the kernel's memory"

    def free(self, fresh: bool = True) -> dict:
        """Free bytes per device, the predictor's device names as keys, plus "limit" and
        "page_cache" (inactive page cache counted as free on the host, where the limit is a
        cgroup's): measured now, or (fresh=False) from the sampler's last reading where
        there is one."""
        latest = self.latest() or {}
        limits = latest if not fresh and latest.get("limit") is not None \
            else self.figures.limits_now()
        free = {"cpu": limits.get("free"), "limit": limits.get("limit"),
                "page_cache": limits.get("page_cache")}
        for gpu in latest.get("gpus") or []:
            used, total = gpu.get("used"), gpu.get("total")
            if isinstance(used, int) and isinstance(total, int):
                free[f"cuda:{gpu.get('index')}"] = max(0, total - used)
        return free

    def execute_running(self) -> bool:
        """Whether an execute (a cell, or a front end's silent one) is under way on the
        main thread, other than the caller's own. A comm message is handled inside a
        pre_execute/post_execute pair of its own (the `comm` package does that for
        widgets), and on the main thread only between executes."""
        if threading.current_thread() is threading.main_thread():
            return False
        return self._executes > 0

    def has_predictor(self) -> bool:
        return self._precheck.predictor() is not None

    def predict_for_editor(self, source: str, *, wait: float,
                           cell_started: Callable[[], bool]) -> Optional[tuple]:
        """An edit-time prediction of `source`, judged as the pre-run check would
        (PreCheck.predict_for_editor): None when it gave way."""
        return self._precheck.predict_for_editor(source, wait=wait, cell_started=cell_started)

    # -- before the cell ----------------------------------------------------------------
    def _pre_run_cell(self, info=None) -> None:
        self.cells_started += 1
        try:
            self._depth += 1
            if self._depth > 1:
                return  # run_cell from inside a cell: the outer cell is checked and watched
            raw = getattr(info, "raw_cell", None)
            allowed = self._allow_next or allows(raw)
            self._allow_next = False
            # What IPython compiles (IPython 8.x+ says; else PreCheck transforms the text).
            transformed = getattr(info, "transformed_cell", None)
            self._precheck.pending = (raw, transformed, allowed) if self.mode != "off" \
                else None
            watched = False
            if self.watchdog_fraction is not None or self.hard_cap:
                watched = self._arm()
            if not watched:
                # No watchdog thread to tell the front end later, or a cell that could be
                # killed before it would: its cell_start goes now (comm.py).
                self.front_end.tell_cell_start()
        except Exception:
            log.warning("oomguard: the guard's pre_run_cell failed", exc_info=True)

    def _arm(self) -> bool:
        """Hand the watchdog this cell's trigger. On the cell's path, so nothing is read
        here that another part has already measured: the limit is the one read within
        LIMIT_TTL (by the sampler, normally), the kernel's memory the recorder's reading
        at this cell's start; the container's is read only where its estimate comes near
        the trigger. The watchdog's thread is not woken (watchdog.py). True where it is
        armed and the cell starts out of reach of the limit (within_reach)."""
        limits = self.figures.limits_recent(LIMIT_TTL)
        limit = limits.get("limit")
        if not isinstance(limit, int):
            return False
        reader, what = self._reader(limits)
        fraction = self.watchdog_fraction
        trigger = int(fraction * limit) if fraction is not None else limit
        now = reader() if self.hard_cap else self._used_now(reader, limits, trigger)
        if self.hard_cap:
            notes: List[str] = []
            if not self.cap.apply(limit, now, notes):
                for note in notes:
                    self.cells.add_note(note)
        if fraction is None:
            return False
        floor = 0
        if now is not None and now >= trigger:
            # Already past the threshold when the cell starts (a big result kept from an
            # interrupted cell): act only on further growth, so that `del big` can run.
            if now >= limit:
                self.cells.add_note(
                    "The watchdog is off for this cell: memory is already at the limit.")
                return False
            trigger, floor = further_growth_trigger(now, limit), now + MIN_FURTHER_GROWTH
        # Where the reading is the container's, the kernel's child processes count too.
        growth = Growth(children=reader is not self._rss)
        self.watchdog.arm(Arming(trigger, limit, reader, what, growth, floor,
                                 int(fraction * limit)))
        self._armed_at = self._executes
        return now is not None and not within_reach(now, limit)

    def _used_now(self, reader, limits: dict, trigger: int) -> Optional[int]:
        """What `reader` would say now, measured only where it matters. The kernel's
        memory: the recorder's reading at this cell's start. The container's: estimated
        from the last reading of it plus what the kernel added since; read (a few cgroup
        files) only where that estimate is near the trigger, since only there can the
        container be past it. Another process of the container that grew by more than
        the margin since that reading is caught at the watchdog's first poll instead."""
        before = self.cells.running_ram_before()
        if reader is self._rss:
            return before if before is not None else reader()
        used, rss_then = limits.get("used"), limits.get("rss")
        if isinstance(used, int) and isinstance(rss_then, int) and before is not None:
            estimate = used + max(0, before - rss_then)
            if not near_trigger(estimate, trigger):
                return estimate
        return reader()

    # -- while and after the cell -------------------------------------------------------
    def _watchdog_fired(self, firing: Firing) -> None:
        self.cells.mark_interrupted(text.watchdog_note(firing))
        for listener in list(self.on_watchdog):
            try:
                listener(firing)
            except Exception:
                log.warning("oomguard: a watchdog listener failed", exc_info=True)

    def _pre_execute(self) -> None:
        self.executes_started += 1
        if threading.current_thread() is threading.main_thread():
            self._executes += 1

    def _post_execute(self) -> None:
        """Disarm as soon as the armed cell's code is done. A KeyboardInterrupt from a
        firing just before (the watchdog's, landing at our next bytecode) is the cell's,
        which is over: it must not reach the hooks that follow."""
        try:
            if threading.current_thread() is not threading.main_thread():
                return
            self._executes = max(0, self._executes - 1)
            if self._armed_at is None or self._executes >= self._armed_at:
                return  # a nested or silent execute ended; the armed cell goes on
            self._disarm()
        except KeyboardInterrupt:
            self._disarm()
        except Exception:
            log.warning("oomguard: the guard's post_execute failed", exc_info=True)

    def _disarm(self) -> None:
        self._armed_at = None
        firing = self.watchdog.disarm()
        if firing is not None:
            self._firing = firing
            try:
                _let_pending_interrupt_land()
            except KeyboardInterrupt:
                pass  # the watchdog's, sent as the cell ended: the record says interrupted

    def _post_run_cell(self, result=None) -> None:
        try:
            self._depth = max(0, self._depth - 1)
            if self._depth:
                return
            self._precheck.pending = None
            if self.watchdog.armed:  # no post_execute came (an IPython without it)
                self._disarm()
            firing, self._firing = self._firing, None
            if firing is not None:
                arming = firing.arming
                print(text.watchdog_text(firing, arming.reader(), self._rss()),
                      file=sys.stderr)
            elif self.cap.active and _allocation_failed(getattr(result, "error_in_exec", None)):
                print(text.cap_text(self.cap.cap), file=sys.stderr)
        except (Exception, KeyboardInterrupt):  # the cell is over: nothing to interrupt
            log.warning("oomguard: the guard's post_run_cell failed", exc_info=True)


def within_reach(used: int, limit: int) -> bool:
    """Whether a cell starting at `used` could reach the limit before the watchdog's first
    poll (comm.LIVE_AFTER, 25 ms): page faults on many threads fill some GiB a second,
    so closer than 512 MiB, or 10% of a big limit. Such a cell's start is told at once,
    so that a front end can name it if the kernel is killed."""
    return limit - used < max(512 << 20, limit // 10)


def _let_pending_interrupt_land() -> None:
    """A Python-level call: a signal handler tripped by the watchdog's interrupt_main()
    runs at the next check of the main thread's eval loop, which a call makes."""
    return None
