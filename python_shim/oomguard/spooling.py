"""The `spool` setting and this kernel's spool writer (spool.py): where the timeline is
appended as it happens, opened at enable and closed at disable."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable, Optional

from .afterreply import after_reply
from .spool import Spool, SpoolWriter, default_directory


class SpoolKeeper:
    SETTINGS = ("spool",)

    def __init__(self, interval: Callable[[], float]):
        self._interval = interval
        self.setting = None  # None: the default directory; False: no spool
        self.writer: Optional[SpoolWriter] = None  # writes on a thread of its own

    def apply_setting(self, name: str, value, complain: Callable[[str], None]) -> None:
        if value is None or value is False or isinstance(value, (str, os.PathLike)):
            if value != self.setting:
                self.setting = value
                self.close()  # reopened where asked by enable()
        else:
            complain("oomguard: spool must be a directory, None (the default directory) "
                     "or False (no spool)")

    def open(self) -> None:
        if self.writer is None and self.setting is not False:
            self.writer = SpoolWriter(Spool(directory=self.setting,
                                            session={"interval": self._interval()}))

    def close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()

    @property
    def path(self) -> Optional[Path]:
        writer = self.writer
        return writer.path if writer is not None else None

    @property
    def note(self) -> Optional[str]:
        writer = self.writer
        return writer.note if writer is not None else None

    def session(self) -> Optional[dict]:
        writer = self.writer
        return writer.session() if writer is not None else None

    def directory(self) -> Path:
        """Where this kernel's spool is, or would be: a dead kernel's is looked for there."""
        path = self.path
        if path is not None:
            return path.parent
        if isinstance(self.setting, (str, os.PathLike)):
            return Path(self.setting).expanduser()
        return default_directory()

    def write_sample(self, reading: dict) -> None:
        """Sampler sink."""
        writer = self.writer
        if writer is not None:
            writer.write_sample(reading)

    def write_cell(self, record) -> None:
        """Recorder listener: the record is handed to the writer's thread after the
        cell's reply, so that thread is not woken (to bid for the GIL) while the reply
        is on its way."""
        writer = self.writer
        if writer is not None:
            after_reply(functools.partial(writer.write_cell, record))
