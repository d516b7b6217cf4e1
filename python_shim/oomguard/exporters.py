"""Write a memory timeline (samples + cell records) to disk as CSV, JSON or a Chrome trace.

`export(path, format, samples, cells, session=None)` returns the list of paths written:

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
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, List, Optional, Union

FORMATS = ("csv", "json", "trace")
TIMELINE_FORMAT = "oomguard-timeline"
TIMELINE_VERSION = 1
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


def iso_time(t: Any) -> str:
    number = _number(t)
    if number is None:
        return ""
    try:
        moment = datetime.fromtimestamp(number, timezone.utc).astimezone()
        return moment.isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def cell_bytes(cell: Mapping, name: str) -> Optional[int]:
    """A byte field of a CellRecord; the deltas are derived when a record lacks them."""
    value = _integer(cell.get(name))
    if value is None and name in ("ram_delta", "ram_peak_delta"):
        before = _integer(cell.get("ram_before"))
        other = _integer(cell.get("ram_after" if name == "ram_delta" else "ram_peak"))
        if before is not None and other is not None:
            value = other - before
    return value


def _gpu_index(gpu: Mapping, position: int) -> int:
    index = gpu.get("index")
    return index if type(index) is int and index >= 0 else position


def _gpus(record: Mapping, key: str) -> List[tuple]:
    """(index, gpu dict) for each well-formed entry of record[key]."""
    return [(_gpu_index(gpu, i), gpu) for i, gpu in enumerate(_list(record.get(key)))
            if isinstance(gpu, Mapping)]


def _dicts(records: Optional[Iterable]) -> List[Mapping]:
    return [r for r in (records or ()) if isinstance(r, Mapping)]


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

SAMPLE_COLUMNS = ("time", "t", "rss", "children_rss", "used", "limit", "free",
                  "limit_source", "host_total", "host_available", "running_cell", "notes")
SAMPLE_GPU_COLUMNS = ("used", "total", "process_used", "torch_allocated", "torch_reserved")
CELL_COLUMNS = ("execution_count", "cell_id", "time", "start", "duration", "status",
                "ram_before", "ram_after", "ram_peak", "ram_delta", "ram_peak_delta",
                "peak_method", "container_peak", "findings", "risky_findings",
                "finding_kinds", "notes")
CELL_GPU_COLUMNS = ("before", "after", "peak")
# A cluster's columns (docs/measurements.md), added where any sample or cell has a
# `cluster` (docs/protocol.md): bytes as integers, lists joined by "; ".
SAMPLE_CLUSTER_COLUMNS = ("cluster_engine", "cluster_memory", "cluster_limit",
                          "cluster_workers")
CELL_CLUSTER_COLUMNS = ("cluster_engine", "cluster_scheduler", "cluster_workers",
                        "cluster_before", "cluster_after", "cluster_peak", "cluster_delta",
                        "cluster_peak_delta", "cluster_limit", "cluster_per_worker",
                        "cluster_restarted", "cluster_lost", "cluster_notes")
BYTE_FIELDS = ("rss", "children_rss", "used", "limit", "free", "host_total",
               "host_available")


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = _number(value)
    if number is None:
        return ""
    return str(int(number)) if number.is_integer() and abs(number) < 2 ** 63 else repr(number)


def _joined(values: Any) -> str:
    return "; ".join(text for text in map(_text, _list(values)) if text)


def cells_csv_path(path: PathLike) -> Path:
    target = Path(os.fspath(path)).expanduser()
    stem = target.stem if target.suffix.lower() == ".csv" else target.name
    return target.with_name(stem + ".cells.csv")


def _cluster(record: Mapping) -> Optional[Mapping]:
    cluster = record.get("cluster")
    return cluster if isinstance(cluster, Mapping) else None


def _has_cluster(records: List[Mapping]) -> bool:
    return any(_cluster(record) is not None for record in records)


def _sample_cluster_fields(sample: Mapping) -> dict:
    cluster = _cluster(sample) or {}
    return {"cluster_engine": _text(cluster.get("engine")),
            "cluster_memory": _integer(cluster.get("memory")),
            "cluster_limit": _integer(cluster.get("limit")),
            "cluster_workers": _integer(cluster.get("workers"))}


def _worker_events(events: Any) -> str:
    """'address (reason)' for each restarted or lost worker."""
    return "; ".join(f"{_text(e.get('worker')) or '?'} ({_text(e.get('reason')) or '?'})"
                     for e in _list(events) if isinstance(e, Mapping))


def cluster_cell_fields(cell: Mapping) -> dict:
    """The CELL_CLUSTER_COLUMNS of one record, by name (None: empty)."""
    cluster = _cluster(cell) or {}
    before, after, peak = (_integer(cluster.get(name)) for name in ("before", "after", "peak"))
    per_worker = cluster.get("per_worker")
    return {
        "cluster_engine": _text(cluster.get("engine")),
        "cluster_scheduler": _text(cluster.get("scheduler")),
        "cluster_workers": _integer(cluster.get("workers")),
        "cluster_before": before, "cluster_after": after, "cluster_peak": peak,
        "cluster_delta": after - before if None not in (before, after) else None,
        "cluster_peak_delta": peak - before if None not in (before, peak) else None,
        "cluster_limit": _integer(cluster.get("limit")),
        "cluster_per_worker": "; ".join(
            f"{address}={_field(_integer(peak))}" for address, peak in per_worker.items()
            if isinstance(address, str)) if isinstance(per_worker, Mapping) else None,
        "cluster_restarted": _worker_events(cluster.get("restarted")),
        "cluster_lost": _worker_events(cluster.get("lost")),
        "cluster_notes": _joined(cluster.get("notes")),
    }


def _sample_row(sample: Mapping, gpu_indexes: List[int], clusters: bool) -> List[str]:
    running = sample.get("running_cell")
    values = {name: _integer(sample.get(name)) for name in BYTE_FIELDS}
    values.update(
        time=iso_time(sample.get("t")), t=_number(sample.get("t")),
        limit_source=_text(sample.get("limit_source")), notes=_joined(sample.get("notes")),
        running_cell=_integer(running.get("execution_count"))
        if isinstance(running, Mapping) else None)
    row = [_field(values[name]) for name in SAMPLE_COLUMNS]
    if clusters:
        fields = _sample_cluster_fields(sample)
        row += [_field(fields[name]) for name in SAMPLE_CLUSTER_COLUMNS]
    by_index = dict(_gpus(sample, "gpus"))
    for index in gpu_indexes:
        gpu = by_index.get(index, {})
        row += [_field(_integer(gpu.get(name))) for name in SAMPLE_GPU_COLUMNS]
    return row


def _cell_row(cell: Mapping, gpu_indexes: List[int], clusters: bool) -> List[str]:
    findings = [f for f in _list(cell.get("findings")) if isinstance(f, Mapping)]
    kinds = dict.fromkeys(k for k in (_text(f.get("kind")) for f in findings) if k)
    row = [_field(_integer(cell.get("execution_count"))), _field(_text(cell.get("cell_id"))),
           iso_time(cell.get("start")), _field(_number(cell.get("start"))),
           _field(_number(cell.get("duration"))), _field(_text(cell.get("status")))]
    row += [_field(cell_bytes(cell, name)) for name in
            ("ram_before", "ram_after", "ram_peak", "ram_delta", "ram_peak_delta")]
    row += [_field(_text(cell.get("peak_method"))), _field(_integer(cell.get("container_peak"))),
            str(len(findings)), str(sum(1 for f in findings if f.get("risky") is True)),
            "; ".join(kinds), _joined(cell.get("notes"))]
    if clusters:
        fields = cluster_cell_fields(cell)
        row += [_field(fields[name]) for name in CELL_CLUSTER_COLUMNS]
    by_index = dict(_gpus(cell, "gpu"))
    for index in gpu_indexes:
        gpu = by_index.get(index, {})
        row += [_field(_integer(gpu.get(name))) for name in CELL_GPU_COLUMNS]
    return row


def _gpu_indexes(records: List[Mapping], key: str) -> List[int]:
    return sorted({index for record in records for index, _ in _gpus(record, key)})


def write_csv(path: PathLike, samples: List[Mapping], cells: List[Mapping]) -> List[str]:
    cells_path = cells_csv_path(path)
    sample_gpus = _gpu_indexes(samples, "gpus")
    sample_clusters = _has_cluster(samples)
    with atomic_file(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(SAMPLE_COLUMNS)
                        + list(SAMPLE_CLUSTER_COLUMNS if sample_clusters else ())
                        + [f"gpu{i}_{name}" for i in sample_gpus
                           for name in SAMPLE_GPU_COLUMNS])
        for sample in samples:
            writer.writerow(_sample_row(sample, sample_gpus, sample_clusters))
    cell_gpus = _gpu_indexes(cells, "gpu")
    cell_clusters = _has_cluster(cells)
    with atomic_file(cells_path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(CELL_COLUMNS)
                        + list(CELL_CLUSTER_COLUMNS if cell_clusters else ())
                        + [f"gpu{i}_{name}" for i in cell_gpus
                           for name in CELL_GPU_COLUMNS])
        for cell in cells:
            writer.writerow(_cell_row(cell, cell_gpus, cell_clusters))
    return [os.fspath(Path(os.fspath(path)).expanduser()), os.fspath(cells_path)]


# -- JSON --------------------------------------------------------------------------------

def _write_array(f: IO[str], records: List[Mapping]) -> None:
    f.write("[")
    for i, record in enumerate(records):
        f.write(",\n" if i else "\n")
        f.write(dumps(record))
    f.write("\n]" if records else "]")


def write_json(path: PathLike, samples: List[Mapping], cells: List[Mapping],
               session: Optional[Mapping] = None) -> List[str]:
    with atomic_file(path) as f:
        f.write(f'{{"format": "{TIMELINE_FORMAT}", "version": {TIMELINE_VERSION}, '
                f'"session": {dumps(session if isinstance(session, Mapping) else None)},\n')
        f.write('"samples": ')
        _write_array(f, samples)
        f.write(',\n"cells": ')
        _write_array(f, cells)
        f.write("}\n")
    return [os.fspath(Path(os.fspath(path)).expanduser())]


# -- Chrome trace ------------------------------------------------------------------------

_CLUSTER_BYTES = ("cluster_before", "cluster_after", "cluster_peak", "cluster_delta",
                  "cluster_peak_delta", "cluster_limit")
CELL_COLOURS = {"error": "terrible", "blocked": "bad", "interrupted": "yellow"}


def _mib(value: Any) -> Optional[float]:
    number = _number(value)
    return None if number is None else round(number / MIB, 3)


def _sample_series(sample: Mapping) -> Iterator[tuple]:
    """(counter name, bytes) for each memory figure of one sample."""
    yield "kernel RSS", sample.get("rss")
    yield "children RSS", sample.get("children_rss")
    yield "session used", sample.get("used")
    yield "session limit", sample.get("limit")
    cluster = _cluster(sample)
    if cluster is not None:
        engine = _text(cluster.get("engine")) or "cluster"
        yield f"{engine} cluster memory", cluster.get("memory")
        yield f"{engine} cluster limit", cluster.get("limit")
    for index, gpu in _gpus(sample, "gpus"):
        yield f"GPU{index} used", gpu.get("used")
        yield f"GPU{index} total", gpu.get("total")
        yield f"GPU{index} process used", gpu.get("process_used")
        yield f"GPU{index} torch allocated", gpu.get("torch_allocated")
        yield f"GPU{index} torch reserved", gpu.get("torch_reserved")


def _counter_events(samples: List[Mapping], pid: int) -> Iterator[dict]:
    """Counter events in time order. A value is emitted when it changes (the viewers draw
    steps, so it holds until the next one) and once more at the last sample."""
    timed = sorted(((t, s) for t, s in ((_number(s.get("t")), s) for s in samples)
                    if t is not None), key=lambda pair: pair[0])
    last: dict = {}
    for position, (t, sample) in enumerate(timed):
        final = position == len(timed) - 1
        ts = round(t * 1e6)
        for name, value in _sample_series(sample):
            mib = _mib(value)
            if mib is None or (last.get(name) == mib and not final):
                continue
            last[name] = mib
            yield {"name": name, "ph": "C", "ts": ts, "pid": pid, "tid": pid,
                   "cat": "memory", "args": {"MiB": mib}}


def _finding_args(finding: Mapping) -> dict:
    return {"kind": _text(finding.get("kind")), "line": _integer(finding.get("line")),
            "MiB": _mib(finding.get("bytes")), "peak_MiB": _mib(finding.get("peak_bytes")),
            "device": _text(finding.get("device")), "risky": finding.get("risky") is True,
            "message": _text(finding.get("message"))}


def _cell_event(cell: Mapping, pid: int) -> Optional[dict]:
    start = _number(cell.get("start"))
    if start is None:
        return None
    duration = max(0.0, _number(cell.get("duration")) or 0.0)
    count = _integer(cell.get("execution_count"))
    status = _text(cell.get("status"))
    args = {"execution_count": count, "cell_id": _text(cell.get("cell_id")),
            "status": status, "peak_method": _text(cell.get("peak_method"))}
    for name in ("ram_before", "ram_after", "ram_peak", "ram_delta", "ram_peak_delta"):
        args[name + "_MiB"] = _mib(cell_bytes(cell, name))
    args["container_peak_MiB"] = _mib(cell.get("container_peak"))
    args["gpu"] = [{"index": index, **{f"{name}_MiB": _mib(gpu.get(name))
                                       for name in CELL_GPU_COLUMNS}}
                   for index, gpu in _gpus(cell, "gpu")]
    args["findings"] = [_finding_args(f) for f in _list(cell.get("findings"))
                        if isinstance(f, Mapping)]
    args["notes"] = [text for text in map(_text, _list(cell.get("notes"))) if text]
    if _cluster(cell) is not None:
        fields = cluster_cell_fields(cell)
        args["cluster"] = {name[len("cluster_"):] + ("_MiB" if name in _CLUSTER_BYTES else ""):
                           _mib(value) if name in _CLUSTER_BYTES else value
                           for name, value in fields.items()}
    event = {"name": f"cell [{count if count is not None else '?'}]", "cat": "cell",
             "ph": "X", "ts": round(start * 1e6), "dur": round(duration * 1e6),
             "pid": pid, "tid": pid, "args": args}
    if status in CELL_COLOURS:
        event["cname"] = CELL_COLOURS[status]
    return event


def _metadata_events(pid: int, session: Mapping) -> List[dict]:
    host = _text(session.get("hostname"))
    process = f"kernel (pid {pid})" + (f" on {host}" if host else "")
    return [
        {"name": "process_name", "ph": "M", "ts": 0, "pid": pid, "tid": pid,
         "args": {"name": f"oomguard: {process}"}},
        {"name": "thread_name", "ph": "M", "ts": 0, "pid": pid, "tid": pid,
         "args": {"name": "cells (main thread)"}},
    ]


def trace_events(samples: List[Mapping], cells: List[Mapping],
                 session: Optional[Mapping] = None) -> Iterator[dict]:
    """Every event of the trace: metadata, counters (time order), then cell slices."""
    session = session if isinstance(session, Mapping) else {}
    pid = _integer(session.get("pid"))
    pid = pid if pid is not None and 0 < pid < 2 ** 31 else 1
    yield from _metadata_events(pid, session)
    slices = sorted((e for e in (_cell_event(cell, pid) for cell in cells) if e is not None),
                    key=lambda event: event["ts"])
    # One stream in time order: viewers cope with any order, but this one costs nothing.
    yield from heapq.merge(_counter_events(samples, pid), slices,
                           key=lambda event: event["ts"])


def write_trace(path: PathLike, samples: List[Mapping], cells: List[Mapping],
                session: Optional[Mapping] = None) -> List[str]:
    with atomic_file(path) as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ')
        f.write(dumps({"producer": "oomguard", "session": session
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
