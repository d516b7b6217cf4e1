"""Write a memory timeline (samples + cell records) to disk as CSV, JSON or a Chrome trace.

`export(path, format, samples, cells, session=None)` returns the list of paths written.
What each format holds is specified once, in schema/exports.json (shipped in this package),
which the browser's export (src/export/timeline.ts) follows too; a test exports one
timeline from both and compares them field by field:

- ``"csv"``: two files. `path` gets one row per sample; a sibling ``<stem>.cells.csv``
  (``mem.csv`` -> ``mem.cells.csv``) gets one row per cell. Memory columns are bytes,
  an empty field means "not measured". Times come twice: ``time`` (ISO 8601, local time
  with its UTC offset) and ``t`` / ``start`` (epoch seconds). GPUs add columns
  ``gpu<N>_used``, ``gpu<N>_total``, ... for every GPU index seen in the timeline.
- ``"json"``: ``{"format": "oomguard-timeline", "version": 1, "session": {...} | null,
  "samples": [...], "cells": [...]}``, the records as they are (NaN/inf become null).
- ``"trace"``: Chrome Trace Event JSON for Perfetto (ui.perfetto.dev) or
  chrome://tracing. Memory is drawn as counter tracks in MiB (each counter has one
  series named ``MiB``, so Perfetto shows e.g. "kernel RSS MiB"), each cell as a slice
  "cell [N]" on the kernel's main thread with its deltas, peaks and status in the args.

Every file is written to a temporary file in the same directory and then renamed over
`path`, so a reader never sees half a file. Files are streamed, not built in memory:
a day of samples would otherwise cost hundreds of MiB in the very session we watch.

Raises ValueError for an unknown format and OSError when the file cannot be written
(the caller decides how to tell the user); odd values in the records never raise."""
from __future__ import annotations

import csv
import heapq
import json
import math
import numbers
import os
import secrets
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, List, Optional, Tuple, Union

from .schemas import export_spec

_SPEC = export_spec()
FORMATS = ("csv", "json", "trace")
TIMELINE_FORMAT = _SPEC["json"]["format"]
TIMELINE_VERSION = _SPEC["json"]["version"]
MIB = 1024 * 1024

PathLike = Union[str, "os.PathLike[str]"]


# -- JSON that never fails ---------------------------------------------------------------

def jsonable(value: Any, _depth: int = 0) -> Any:
    """`value` as plain JSON types: non-finite floats and unknown objects become None.
    Never calls repr/str on an object it does not know."""
    if value is None or type(value) in (str, bool, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        if isinstance(value, numbers.Integral):  # numpy integers, among others
            return int(value)
        if isinstance(value, numbers.Real):
            number = float(value)
            return number if math.isfinite(number) else None
        if isinstance(value, str):
            return str.__str__(value)
        if _depth > 32:
            return None
        if isinstance(value, Mapping):
            return {key: jsonable(item, _depth + 1) for key, item in value.items()
                    if isinstance(key, str)}
        if isinstance(value, (list, tuple)):
            return [jsonable(item, _depth + 1) for item in value]
    except Exception:
        pass
    return None


def dumps(value: Any) -> str:
    """Compact JSON of `value`; the fast path when it is plain already."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return json.dumps(jsonable(value), allow_nan=False, separators=(",", ":"))


# -- small readers that tolerate anything -----------------------------------------------

def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except Exception:
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> Optional[int]:
    number = _number(value)
    return int(number) if number is not None else None


def _text(value: Any) -> Optional[str]:
    return str.__str__(value) if isinstance(value, str) else None


def _list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _get(record: Any, path: str) -> Any:
    """The value at a dotted `path` of nested mappings; None where there is none."""
    for name in path.split("."):
        if not isinstance(record, Mapping):
            return None
        record = record.get(name)
    return record


def iso_time(t: Any) -> str:
    """Epoch seconds as ISO 8601 local time with its UTC offset, to the millisecond
    (floored, as the browser's export does); "" where it is not a time."""
    number = _number(t)
    if number is None:
        return ""
    try:
        ms = math.floor(number * 1000)
        moment = datetime.fromtimestamp(ms // 1000, timezone.utc).astimezone()
        return moment.replace(microsecond=(ms % 1000) * 1000).isoformat(
            timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def _mib(value: Any) -> Optional[float]:
    number = _number(value)
    return None if number is None else math.floor(number / MIB * 1000 + 0.5) / 1000


def _position(value: Any, position: int) -> int:
    """`value` where it is a non-negative integer, else the item's `position` in its
    list (a GPU without an index)."""
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number.is_integer() \
        else position


def _gpus(record: Mapping, key: str) -> List[tuple]:
    """(index, gpu dict) for each well-formed entry of record[key]."""
    return [(_position(gpu.get("index"), i), gpu) for i, gpu in enumerate(_list(record.get(key)))
            if isinstance(gpu, Mapping)]


def _dicts(records: Optional[Iterable]) -> List[Mapping]:
    return [r for r in (records or ()) if isinstance(r, Mapping)]


# -- the specification's values (schema/exports.json, "kinds") ---------------------------

_ABSENT = object()  # an argument left out ("object" where the record has none)


def _joined(values: Any) -> str:
    return "; ".join(text for text in map(_text, _list(values)) if text)


def _pairs(value: Any) -> Optional[str]:
    if not isinstance(value, Mapping):
        return None
    return "; ".join(f"{key}={_field(_integer(one))}" for key, one in value.items()
                     if isinstance(key, str))


def _worker_events(events: Any) -> str:
    """'address (reason)' for each restarted or lost worker."""
    return "; ".join(f"{_text(e.get('worker')) or '?'} ({_text(e.get('reason')) or '?'})"
                     for e in _list(events) if isinstance(e, Mapping))


def _distinct(items: Any, of: str) -> str:
    found = (_text(item.get(of)) for item in _list(items) if isinstance(item, Mapping))
    return "; ".join(dict.fromkeys(text for text in found if text))


def _count(items: Any, where: Optional[str]) -> int:
    return sum(1 for item in _list(items) if isinstance(item, Mapping)
               and (where is None or item.get(where) is True))


def _written(record: Any, columns: list, position: int = 0) -> dict:
    """An object written by `columns` (trace arguments): {name: value}."""
    written = {}
    for column in columns:
        value = value_of(record, column, position)
        if value is not _ABSENT:
            written[column["name"]] = value
    return written


def value_of(record: Any, column: Mapping, position: int = 0) -> Any:
    """One column's value of one record, as schema/exports.json says."""
    kind = column["as"]
    value = _get(record, column["field"]) if "field" in column else None
    if "difference" in column and _number(value) is None:
        first, second = (_integer(_get(record, path)) for path in column["difference"])
        value = first - second if first is not None and second is not None else None
    if kind == "text":
        return _text(value)
    if kind == "integer":
        return _integer(value)
    if kind == "number":
        return _number(value)
    if kind == "localTime":
        return iso_time(value)
    if kind == "MiB":
        return _mib(value)
    if kind == "joined":
        return _joined(value)
    if kind == "texts":
        return [text for text in map(_text, _list(value)) if text]
    if kind == "count":
        return _count(value, column.get("where"))
    if kind == "distinct":
        return _distinct(value, column["of"])
    if kind == "pairs":
        return _pairs(value)
    if kind == "workerEvents":
        return _worker_events(value)
    if kind == "isTrue":
        return value is True
    if kind == "position":
        return _position(value, position)
    if kind == "each":
        return [_written(item, column["columns"], i)
                for i, item in enumerate(_list(value)) if isinstance(item, Mapping)]
    if kind == "object":
        return _written(value, column["columns"]) if isinstance(value, Mapping) else _ABSENT
    raise ValueError(f"schema/exports.json: unknown kind {kind!r}")


# -- atomic files ------------------------------------------------------------------------

@contextmanager
def atomic_file(path: PathLike, newline: Optional[str] = None) -> Iterator[IO[str]]:
    """A text file that replaces `path` only once it is complete."""
    target = Path(os.fspath(path)).expanduser()
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the final mode, as a plain open() would.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


# -- CSV ---------------------------------------------------------------------------------

def _columns(table: Mapping, key: str) -> Tuple[str, ...]:
    return tuple(column["name"] for column in table[key])


SAMPLE_COLUMNS = _columns(_SPEC["csv"]["samples"], "columns")
SAMPLE_CLUSTER_COLUMNS = _columns(_SPEC["csv"]["samples"], "clusterColumns")
SAMPLE_GPU_COLUMNS = _columns(_SPEC["csv"]["samples"], "gpuColumns")
CELL_COLUMNS = _columns(_SPEC["csv"]["cells"], "columns")
CELL_CLUSTER_COLUMNS = _columns(_SPEC["csv"]["cells"], "clusterColumns")
CELL_GPU_COLUMNS = _columns(_SPEC["csv"]["cells"], "gpuColumns")


def _positional(number: float) -> str:
    """The shortest decimal that reads back as `number`, never in exponent notation."""
    text = repr(number)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = _number(value)
    if number is None:
        return ""
    if number.is_integer() and abs(number) < 2 ** 63:
        return str(int(number))
    return _positional(number)


def cells_csv_path(path: PathLike) -> Path:
    target = Path(os.fspath(path)).expanduser()
    stem = target.stem if target.suffix.lower() == ".csv" else target.name
    return target.with_name(stem + ".cells.csv")


class _Table:
    """One CSV file of the specification (`csv.samples` or `csv.cells`) for `records`."""

    def __init__(self, spec: Mapping, records: List[Mapping]):
        self.columns = list(spec["columns"])
        if any(isinstance(record.get("cluster"), Mapping) for record in records):
            self.columns += spec["clusterColumns"]
        self.gpus_key, self.gpu_columns = spec["gpus"], spec["gpuColumns"]
        self.gpu_indexes = sorted({index for record in records
                                   for index, _ in _gpus(record, self.gpus_key)})

    def header(self) -> List[str]:
        return [column["name"] for column in self.columns] + [
            f"gpu{index}_{column['name']}" for index in self.gpu_indexes
            for column in self.gpu_columns]

    def row(self, record: Mapping) -> List[str]:
        row = [_field(value_of(record, column)) for column in self.columns]
        by_index = dict(_gpus(record, self.gpus_key))
        for index in self.gpu_indexes:
            gpu = by_index.get(index, {})
            row += [_field(value_of(gpu, column)) for column in self.gpu_columns]
        return row


def _write_table(path: PathLike, spec: Mapping, records: List[Mapping]) -> None:
    table = _Table(spec, records)
    with atomic_file(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.header())
        for record in records:
            writer.writerow(table.row(record))


def write_csv(path: PathLike, samples: List[Mapping], cells: List[Mapping]) -> List[str]:
    cells_path = cells_csv_path(path)
    _write_table(path, _SPEC["csv"]["samples"], samples)
    _write_table(cells_path, _SPEC["csv"]["cells"], cells)
    return [os.fspath(Path(os.fspath(path)).expanduser()), os.fspath(cells_path)]


# -- JSON --------------------------------------------------------------------------------

_SAMPLE_DROP = frozenset(_SPEC["json"]["sampleDrop"])


def _write_array(f: IO[str], records: Iterable[Mapping]) -> None:
    f.write("[")
    empty = True
    for record in records:
        f.write("\n" if empty else ",\n")
        f.write(dumps(record))
        empty = False
    f.write("]" if empty else "\n]")


def _sample_body(sample: Mapping) -> Mapping:
    if _SAMPLE_DROP.isdisjoint(sample):
        return sample
    return {key: value for key, value in sample.items() if key not in _SAMPLE_DROP}


def write_json(path: PathLike, samples: List[Mapping], cells: List[Mapping],
               session: Optional[Mapping] = None) -> List[str]:
    with atomic_file(path) as f:
        f.write(f'{{"format": {dumps(TIMELINE_FORMAT)}, "version": {TIMELINE_VERSION}, '
                f'"session": {dumps(session if isinstance(session, Mapping) else None)},\n')
        f.write('"samples": ')
        _write_array(f, map(_sample_body, samples))
        f.write(',\n"cells": ')
        _write_array(f, cells)
        f.write("}\n")
    return [os.fspath(Path(os.fspath(path)).expanduser())]


# -- Chrome trace ------------------------------------------------------------------------

_TRACE = _SPEC["trace"]


def _microseconds(seconds: float) -> int:
    return math.floor(seconds * 1e6 + 0.5)


def _sample_series(sample: Mapping) -> Iterator[tuple]:
    """(counter name, bytes) for each memory figure of one sample."""
    counters = _TRACE["counters"]
    for counter in counters["sample"]:
        yield counter["name"], sample.get(counter["field"])
    cluster = sample.get("cluster")
    if isinstance(cluster, Mapping):
        engine = _text(cluster.get("engine")) or counters["clusterEngine"]
        for counter in counters["cluster"]:
            yield counter["name"].replace("{engine}", engine), cluster.get(counter["field"])
    for index, gpu in _gpus(sample, _SPEC["csv"]["samples"]["gpus"]):
        for counter in counters["gpu"]:
            yield counter["name"].replace("{index}", str(index)), gpu.get(counter["field"])


def _counter_events(samples: List[Mapping], pid: int) -> Iterator[dict]:
    """Counter events in time order. A value is emitted when it changes (the viewers draw
    steps, so it holds until the next one) and once more at the last sample."""
    timed = sorted(((t, s) for t, s in ((_number(s.get("t")), s) for s in samples)
                    if t is not None), key=lambda pair: pair[0])
    last: dict = {}
    for position, (t, sample) in enumerate(timed):
        final = position == len(timed) - 1
        ts = _microseconds(t)
        for name, value in _sample_series(sample):
            mib = _mib(value)
            if mib is None or (last.get(name) == mib and not final):
                continue
            last[name] = mib
            yield {"name": name, "ph": "C", "ts": ts, "pid": pid, "tid": pid,
                   "cat": "memory", "args": {"MiB": mib}}


def _cell_event(cell: Mapping, pid: int) -> Optional[dict]:
    spec = _TRACE["cell"]
    start = _number(cell.get("start"))
    if start is None:
        return None
    duration = max(0.0, _number(cell.get("duration")) or 0.0)
    count = _integer(cell.get("execution_count"))
    event = {"name": spec["name"].replace(
                 "{execution_count}", str(count) if count is not None else spec["unnamed"]),
             "cat": "cell", "ph": "X", "ts": _microseconds(start),
             "dur": _microseconds(duration), "pid": pid, "tid": pid,
             "args": _written(cell, spec["args"])}
    colour = spec["colours"].get(_text(cell.get("status")))
    if colour is not None:
        event["cname"] = colour
    return event


def _metadata_events(pid: int, session: Mapping) -> List[dict]:
    host = _text(session.get("hostname"))
    process = (_TRACE["processOnHost"] if host else _TRACE["process"]) \
        .replace("{pid}", str(pid)).replace("{hostname}", host or "")
    return [
        {"name": "process_name", "ph": "M", "ts": 0, "pid": pid, "tid": pid,
         "args": {"name": process}},
        {"name": "thread_name", "ph": "M", "ts": 0, "pid": pid, "tid": pid,
         "args": {"name": _TRACE["thread"]}},
    ]


def trace_events(samples: List[Mapping], cells: List[Mapping],
                 session: Optional[Mapping] = None) -> Iterator[dict]:
    """Every event of the trace: metadata, then counters and cell slices in time order
    (at equal times the counters first)."""
    session = session if isinstance(session, Mapping) else {}
    pid = _integer(session.get("pid"))
    pid = pid if pid is not None and 0 < pid < 2 ** 31 else 1
    yield from _metadata_events(pid, session)
    slices = sorted((e for e in (_cell_event(cell, pid) for cell in cells) if e is not None),
                    key=lambda event: event["ts"])
    yield from heapq.merge(_counter_events(samples, pid), slices,
                           key=lambda event: event["ts"])


def write_trace(path: PathLike, samples: List[Mapping], cells: List[Mapping],
                session: Optional[Mapping] = None) -> List[str]:
    with atomic_file(path) as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ')
        f.write(dumps({"producer": _TRACE["producer"], "session": session
                       if isinstance(session, Mapping) else None}))
        f.write(',\n"traceEvents": [')
        for i, event in enumerate(trace_events(samples, cells, session)):
            f.write(",\n" if i else "\n")
            f.write(dumps(event))
        f.write("\n]}\n")
    return [os.fspath(Path(os.fspath(path)).expanduser())]


# -- the entry point ---------------------------------------------------------------------

def export(path: PathLike, format: str = "csv", samples: Optional[Iterable] = None,
           cells: Optional[Iterable] = None, *, session: Optional[Mapping] = None) -> List[str]:
    """Write the timeline to `path` in `format` ("csv", "json" or "trace"); returns the
    paths written (two for csv). See the module docstring for the layouts."""
    kind = format.strip().lower() if isinstance(format, str) else None
    if kind not in FORMATS:
        raise ValueError(f"oomguard: unknown export format; use one of {', '.join(FORMATS)}")
    sample_list, cell_list = _dicts(samples), _dicts(cells)
    if kind == "csv":
        return write_csv(path, sample_list, cell_list)
    if kind == "json":
        return write_json(path, sample_list, cell_list, session)
    return write_trace(path, sample_list, cell_list, session)
