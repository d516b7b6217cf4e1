"""What the guard needs from the rest of oomguard, and nothing more: the running cell's
record, the memory figures it judges by, and the front end. Runtime passes in the parts
that have these (the cell recorder, Readings and the sampler, the comm bridge); tests
pass in small fakes."""
from __future__ import annotations

from typing import Callable, Optional, Protocol


class RunningCell(Protocol):
    """The cell now running, as the recorder keeps it (records.CellRecorder)."""

    def running_cell(self) -> Optional[dict]: ...

    def running_ram_before(self) -> Optional[int]: ...

    def add_note(self, note: str) -> None: ...

    def mark_interrupted(self, note: str) -> None: ...

    def attach_findings(self, findings: list) -> None: ...


class Figures(Protocol):
    """Memory figures (readings.Readings): the limit and what counts against it."""

    def limits_now(self) -> dict: ...

    def limits_recent(self, max_age: float) -> dict: ...

    def container_usage(self) -> Optional[int]: ...


class FrontEnd(Protocol):
    """The front ends attached through the comm (comm.CommBridge)."""

    @property
    def open_comms(self) -> int: ...

    def send_all(self, message: dict) -> None: ...

    def tell_cell_start(self) -> None:
        """The running cell's `cell_start` now, not once the cell has run a while."""


LatestReading = Callable[[], Optional[dict]]  # the sampler's last reading, or None
