"""Answers a front end's `spool` request: what a dead kernel wrote to its spool after the
last sample the browser received, so the timeline has no hole where the kernel died.

The request names the dead kernel by pid only. The pid picks a spool by its file name
(``oomguard-<pid>-<start>.jsonl``, see spool.py) inside this kernel's spool directory;
no path ever comes from the browser. The read runs on its own thread, never on the
shell's, and the answer is capped (protocol.MAX_SPOOL_SAMPLES, MAX_SPOOL_CELLS): beyond
that the samples are thinned, keeping each stretch's highest reading and always the very
last one (the truest "died at X"), and only the newest cells are kept. What is sent is
read as the front end reads it (schema/protocol.json): a spool from another version, or
cut short, is repaired where it can be, and a record that cannot be read is left out."""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from . import protocol
from .schemas import BAD, protocol_reader
from .spool import list_spools, open_for_reading, spool_parts

log = logging.getLogger("oomguard")

MAX_SAMPLES = protocol.MAX_SPOOL_SAMPLES
MAX_CELLS = protocol.MAX_SPOOL_CELLS
MAX_QUEUED = 8  # spool requests waiting for the worker


def records_since(directory: Path, pid: int, since: Optional[float],
                  max_samples: int = MAX_SAMPLES, max_cells: int = MAX_CELLS,
                  exclude: Optional[Path] = None) -> Tuple[list, list, bool, Optional[str]]:
    """(samples, cells, truncated, note) that kernel `pid` spooled in `directory` after
    `since` (epoch s; None: all). Samples are `sample` bodies without the envelope; the
    cells are those that ended after `since`. `exclude` is this kernel's own spool (in a
    container every kernel may have the same pid). Never raises: a problem is the note."""
    try:
        path = next((found["path"] for found in list_spools(directory)
                     if found["pid"] == pid and found["path"] != exclude), None)
        if path is None:
            return [], [], False, f"No spool of kernel {pid} was found in {directory}."
        samples, cells, thinned = _read_after(spool_parts(path), since, max_samples,
                                              max_cells)
    except Exception as exc:  # unreadable file, a bug: the front end is told, not the cell
        return [], [], False, f"The spool of kernel {pid} could not be read ({exc})."
    truncated = thinned or len(samples) > max_samples or len(cells) > max_cells
    kept_cells = cells[-max_cells:] if max_cells > 0 else []
    return _as_sent(_thin(samples, max_samples), "sample"), \
        _as_sent(kept_cells, "cellRecord"), truncated, None


def _as_sent(records: list, definition: str) -> list:
    """The records read as a front end reads them (schema/protocol.json): a spool is a
    file on disk, perhaps written by another version or cut short, and what the answer
    carries must be valid as sent. What can be repaired is (a bad figure: not measured);
    a record without what it cannot do without (its time, its status) is left out."""
    reader = protocol_reader()
    schema = reader.definition(definition)
    kept = []
    for record in records:
        read = reader.read(schema, record, definition, [])
        if read is not BAD:
            kept.append(read)
    return kept


def _read_after(parts: List[Path], since: Optional[float], max_samples: int,
                max_cells: int) -> Tuple[list, list, bool]:
    """Line by line, thinning as it goes: a spool can hold days of samples (3 x 64 MiB),
    and the new kernel's memory is the user's."""
    samples: list = []
    cells: list = []
    thinned = False
    for part in parts:
        try:
            if since is not None and os.stat(part).st_mtime < since:
                continue  # last written before `since`: nothing in it is newer
            f = open_for_reading(part)
        except FileNotFoundError:
            continue  # rotated away while we looked
        except OSError:
            continue  # a link planted at a spool's name (ELOOP), or unreadable
        with f:
            for raw in f:
                record = _parse(raw)
                if record is None:
                    continue
                kind = record.pop("kind", None)
                if kind == "sample" and _after(record.get("t"), since):
                    samples.append(protocol.sample_body(record))
                    if len(samples) >= 2 * max_samples:
                        samples[:] = _thin(samples, max_samples)
                        thinned = True
                elif kind == "cell" and _cell_ended_after(record, since):
                    cells.append(record)
                    if len(cells) > 2 * max(1, max_cells):  # one more than asked: truncated
                        del cells[:-(max_cells + 1)]
    samples.sort(key=lambda sample: sample["t"])
    return samples, cells, thinned


def _parse(raw: bytes) -> Optional[dict]:
    try:
        record = json.loads(raw)
    except ValueError:  # a line cut short by the kill, or not UTF-8
        return None
    return record if isinstance(record, dict) else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _after(t, since: Optional[float]) -> bool:
    return _is_number(t) and (since is None or t > since)


def _cell_ended_after(record: dict, since: Optional[float]) -> bool:
    start, duration = record.get("start"), record.get("duration")
    return _is_number(start) and _is_number(duration) and _after(start + duration, since)


def _weight(sample: dict) -> float:
    for key in ("used", "rss"):
        if _is_number(sample.get(key)):
            return sample[key]
    return -1


def _thin(samples: list, limit: int) -> list:
    """At most `limit` samples: the highest of each equal stretch, and the last one."""
    if len(samples) <= limit:
        return samples
    if limit <= 1:
        return samples[-1:]
    body, stretches = samples[:-1], limit - 1
    width = len(body) / stretches
    kept = []
    for i in range(stretches):
        stretch = body[int(i * width):int((i + 1) * width)]
        if stretch:
            kept.append(max(stretch, key=_weight))
    kept.append(samples[-1])
    return kept


class SpoolAnswers:
    """Serves `spool` requests on one worker thread of its own, one at a time, in order.
    At most MAX_QUEUED wait; past that a request is dropped (logged), so front ends that
    ask repeatedly cannot pile up threads or reads. (Two front ends may ask about the
    same pid: each gets its own answer, so requests are not merged.)"""

    def __init__(self, directory: Callable[[], Path], own: Callable[[], Optional[Path]]):
        self._directory = directory
        self._own = own  # this kernel's spool file, never the answer
        self._lock = threading.Lock()
        self._queue: deque = deque()
        self._worker: Optional[threading.Thread] = None

    def answer(self, pid: int, since: Optional[float], reply: Callable[[dict], object]) -> None:
        """Queue an answer; `reply(message)` is called from the worker thread."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUED:
                log.warning("oomguard: dropped a spool request for pid %s: %d are waiting",
                            pid, len(self._queue))
                return
            self._queue.append((pid, since, reply))
            if self._worker is None:
                worker = threading.Thread(target=self._work, name="oomguard-spool-answer",
                                          daemon=True)
                try:
                    worker.start()
                except RuntimeError:  # no thread to be had: nothing is answered
                    self._queue.clear()
                    log.warning("oomguard: no thread to answer a spool request", exc_info=True)
                    return
                self._worker = worker

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._worker = None  # the next request starts a new one
                    return
                pid, since, reply = self._queue.popleft()
            self._answer(pid, since, reply)  # never raises

    def _answer(self, pid: int, since: Optional[float], reply) -> None:
        try:
            samples, cells, truncated, note = records_since(self._directory(), pid, since,
                                                            exclude=self._own())
            reply(protocol.spool(pid, since, samples, cells, truncated, note))
        except Exception:
            log.warning("oomguard: answering a spool request failed", exc_info=True)
