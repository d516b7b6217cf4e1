"""The text a user without the JupyterLab extension sees: a summary after each cell
(render.py words it), and once per process where one OOM kill ends the whole container.
Owns the `summary` setting; the mode is automatic unless set: no text where a front end
shows the cells itself, or is about to (attach.py)."""
from __future__ import annotations

import time
from typing import Callable, Optional

SUMMARY_MODES = ("off", "summary", "verbose")
# Seconds a front end that loaded the shim has to open its comm before cells are summed
# up as text again (attach.py): the user's first cell may run before the comm opens.
FRONT_END_GRACE_S = 30.0


class TextSummary:
    SETTINGS = ("summary",)

    def __init__(self, front_ends: Callable[[], int],
                 limits: Callable[[Optional[int]], dict], oom_group: Callable[[], tuple]):
        """`front_ends()`: comms open now; `limits(rss)`: the limit figures, as of the
        kernel's RSS `rss` (Readings.limits_moved); `oom_group()`: (grouped, where) as
        CgroupProbe.oom_group says."""
        self._front_ends = front_ends
        self._limits = limits
        self._oom_group = oom_group
        self.setting: Optional[str] = None  # None: automatic (see mode)
        self._front_end_expected_until = 0.0  # time.monotonic(); see expect_front_end
        self._told_oom_group = False

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if value is None or value in SUMMARY_MODES:
            self.setting = value
        else:
            complain(f"oomguard: summary must be one of {', '.join(SUMMARY_MODES)} or None; "
                     f"kept {self.setting!r}")

    def expect_front_end(self) -> None:
        """A front end loaded the shim and is about to open its comm (attach.py): it
        shows the cells itself, so none is summed up as text meanwhile (for at most
        FRONT_END_GRACE_S, in case it never does)."""
        self._front_end_expected_until = time.monotonic() + FRONT_END_GRACE_S

    def mode(self) -> str:
        """The user's choice, else a summary unless a front end (the JupyterLab extension)
        shows the cells itself, or is about to."""
        if self.setting is not None:
            return self.setting
        if self._front_ends() or time.monotonic() < self._front_end_expected_until:
            return "off"
        return "summary"

    def cell_recorded(self, record) -> None:
        """Recorder listener: print the summary into the cell's own output (sys.stdout is
        still the cell's in post_run_cell)."""
        mode = self.mode()
        if mode != "off":
            from .render import print_summary
            # The session's figures as of the cell's end: the last reading of them moved
            # by what the kernel's RSS changed since (no files read on the cell's path).
            print_summary(record, self._limits(record.ram_after), mode)

    def tell_oom_group(self) -> None:
        """Where one OOM kill ends the whole container, say so once in the text mode (a
        front end says it from `hello`)."""
        if self._told_oom_group or self.mode() == "off":
            return
        grouped, where = self._oom_group()
        if grouped:
            from .render import oom_group_text
            print(oom_group_text(where))
            self._told_oom_group = True
