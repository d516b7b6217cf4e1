"""The kernel's memory timeline: the samples the sampler took and the cells that ran.

Bounded (oldest entries fall off) and thread-safe: the sampler thread adds samples while
the shell thread adds cells and reads. Adding is O(1) and cheap enough for 10 Hz.

Samples are kept packed as tuples rather than dicts, and a value equal to the previous
sample's (the limit, the host's total, the notes, a GPU's name...) is shared with it
rather than stored again. A sample then costs about 350 bytes (550 with one GPU), less
than half of its dict: a memory monitor should not be what fills the session.
`samples()` hands back ordinary dicts."""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, List, Optional, Tuple

from .protocol import CLUSTER_SAMPLE_FIELDS as CLUSTER_FIELDS

# The fields of a `sample` message (docs/protocol.md), then the optional ones. Every
# sample `samples()` returns has all of these; None where the sample lacked one.
SAMPLE_FIELDS = (
    "t", "rss", "children_rss", "limit", "limit_source", "used", "free",
    "host_total", "host_available", "notes", "gpus", "running_cell",
)
# Packed like those, but left out of `samples()` where a sample has none.
OPTIONAL_FIELDS = ("cluster",)
PACKED_FIELDS = SAMPLE_FIELDS + OPTIONAL_FIELDS
GPU_FIELDS = (
    "index", "uuid", "name", "used", "total", "process_used", "torch_allocated",
    "torch_reserved", "source",
)
RUNNING_FIELDS = ("execution_count", "cell_id", "start")
_GPUS = SAMPLE_FIELDS.index("gpus")
_RUNNING = SAMPLE_FIELDS.index("running_cell")
_CLUSTER = PACKED_FIELDS.index("cluster")
_SHARED_TYPES = (int, float, str, tuple)  # immutable: safe to share between samples


def _same(value: Any, previous: Any) -> Any:
    """`previous` when it equals `value` (so one object serves both samples), else value.

    Only plain immutable types are compared: `==` on anything else could be costly,
    ambiguous (arrays) or raise."""
    if type(value) is type(previous) and type(value) in _SHARED_TYPES:
        try:
            if value == previous:
                return previous
        except Exception:
            pass
    return value


def _pack(record: Mapping, fields: Tuple[str, ...], previous: Optional[tuple]) -> tuple:
    """(values of `fields`..., extras) where extras holds keys outside `fields`, or None."""
    values = [record.get(name) for name in fields]
    if previous is not None:
        values = [_same(value, previous[i]) for i, value in enumerate(values)]
    extras = None
    if len(record) > len(fields) or any(name not in record for name in fields):
        extras = {k: v for k, v in record.items() if k not in fields} or None
    values.append(extras)
    if previous is not None and all(a is b for a, b in zip(values, previous)):
        return previous  # nothing changed: share the whole row
    return tuple(values)


def _unpack(row: tuple, fields: Tuple[str, ...]) -> dict:
    record = dict(zip(fields, row))
    extras = row[len(fields)]
    if extras:
        record.update(extras)
    return record


class Timeline:
    def __init__(self, max_samples: int = 86400, max_cells: int = 10000):
        self._samples: deque = deque(maxlen=max(1, int(max_samples)))
        self._cells: deque = deque(maxlen=max(1, int(max_cells)))
        self._lock = threading.Lock()
        self._last_row: Optional[tuple] = None
        self.samples_added = 0  # including those that have since fallen off
        self.cells_added = 0

    # -- writing ------------------------------------------------------------------------

    def add_sample(self, sample: Any) -> None:
        """Keep one reading (a `sample` body; a whole `sample` message loses its `v` and
        `type`). Usable directly as a sampler sink. Never raises."""
        try:
            if not isinstance(sample, Mapping):
                return
            row = self._pack_sample(sample)
        except Exception:  # an odd value we could not pack: keep a plain copy instead
            try:
                row = dict(sample)
            except Exception:
                return
        with self._lock:
            self._samples.append(row)
            self.samples_added += 1
            if isinstance(row, tuple):
                self._last_row = row

    def add_cell(self, cell: Any) -> None:
        """Keep one CellRecord (a dict, or an object with `to_dict()`). Never raises."""
        try:
            record = cell.to_dict() if hasattr(cell, "to_dict") else cell
            if not isinstance(record, Mapping):
                return
            record = dict(record)
        except Exception:
            return
        with self._lock:
            self._cells.append(record)
            self.cells_added += 1

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()
            self._cells.clear()
            self._last_row = None

    # -- reading ------------------------------------------------------------------------

    def samples(self) -> List[dict]:
        """A snapshot, oldest first, as `sample` dicts (new dicts: safe to change)."""
        with self._lock:
            rows = list(self._samples)
        return [self._unpack_sample(row) for row in rows]

    def cells(self) -> List[dict]:
        """A snapshot of the CellRecord dicts, oldest first."""
        with self._lock:
            return [dict(cell) for cell in self._cells]

    def __len__(self) -> int:
        return len(self._samples)

    # -- packing ------------------------------------------------------------------------

    def _pack_sample(self, sample: Mapping) -> tuple:
        previous = self._last_row
        record = dict(sample)
        if record.get("type") == "sample":  # a whole message: its envelope is not data
            record.pop("type")
            record.pop("v", None)
        notes = record.get("notes")
        if isinstance(notes, list):
            record["notes"] = tuple(notes)  # tuples can be shared with the previous row
        gpus = record.get("gpus")
        if isinstance(gpus, (list, tuple)):
            record["gpus"] = self._pack_gpus(gpus, previous[_GPUS] if previous else None)
        running = record.get("running_cell")
        if isinstance(running, Mapping):
            before = previous[_RUNNING] if previous else None
            record["running_cell"] = _pack(running, RUNNING_FIELDS,
                                           before if isinstance(before, tuple) else None)
        cluster = record.get("cluster")
        if isinstance(cluster, Mapping):
            before = previous[_CLUSTER] if previous else None
            record["cluster"] = _pack(cluster, CLUSTER_FIELDS,
                                      before if isinstance(before, tuple) else None)
        return _pack(record, PACKED_FIELDS, previous)

    @staticmethod
    def _pack_gpus(gpus, previous) -> tuple:
        packed = []
        for i, gpu in enumerate(gpus):
            before = None
            if isinstance(previous, tuple) and i < len(previous) \
                    and isinstance(previous[i], tuple):
                before = previous[i]
            packed.append(_pack(gpu, GPU_FIELDS, before) if isinstance(gpu, Mapping) else gpu)
        packed_tuple = tuple(packed)
        # A list of GPUs that did not change at all is shared whole.
        if isinstance(previous, tuple) and len(previous) == len(packed_tuple) and all(
                a is b for a, b in zip(packed_tuple, previous)):
            return previous
        return packed_tuple

    @staticmethod
    def _unpack_sample(row) -> dict:
        if not isinstance(row, tuple):  # kept as a plain copy
            return dict(row)
        sample = _unpack(row, PACKED_FIELDS)
        if isinstance(sample.get("notes"), tuple):
            sample["notes"] = list(sample["notes"])
        gpus = sample.get("gpus")
        if isinstance(gpus, tuple):
            sample["gpus"] = [_unpack(gpu, GPU_FIELDS) if isinstance(gpu, tuple) else gpu
                              for gpu in gpus]
        if isinstance(sample.get("running_cell"), tuple):
            sample["running_cell"] = _unpack(sample["running_cell"], RUNNING_FIELDS)
        if isinstance(sample.get("cluster"), tuple):
            sample["cluster"] = _unpack(sample["cluster"], CLUSTER_FIELDS)
        for name in OPTIONAL_FIELDS:
            if sample.get(name) is None:
                del sample[name]
        return sample
