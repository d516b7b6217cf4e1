"""The oomguard comm protocol, version 1 (docs/protocol.md): message builders for what the
kernel sends and a validator for what it receives. The validator never raises: anything
malformed, unknown or of another version is logged on the ``oomguard`` logger and dropped.

The builders keep every message within the limits the front end accepts (src/protocol.ts
has the same numbers): a text is cut at MAX_TEXT characters, a list at its cap (notes
say how many more there were), so that a busy machine (16 GPUs, each with its notes)
never sends what the other side must cut."""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Optional

PROTOCOL_VERSION = 1
TARGET_NAME = "oomguard"
MIN_INTERVAL = 0.1
MAX_INTERVAL = 60.0

SAMPLE_FIELDS = (
    "t", "rss", "children_rss", "limit", "limit_source", "used", "free",
    "host_total", "host_available", "notes", "gpus", "running_cell", "oom_kills",
)
# A sample's optional `cluster`: the newest figures of a Dask cluster (clusters/).
CLUSTER_SAMPLE_FIELDS = ("engine", "memory", "limit", "workers")
INCOMING_TYPES = ("open", "settings", "refresh", "variables", "predict", "spool")
MAX_PID = 2 ** 31 - 1  # no pid is larger (Linux's pid_max is at most 2^22)
MAX_PREDICT_SOURCE = 100_000  # characters of a cell sent for prediction while it is edited
MAX_CELL_ID = 200
MAX_REQUEST_ID = 2 ** 53 - 1  # what a JavaScript number holds exactly
# What the front end accepts in what the kernel sends (src/protocol.ts: the same values).
MAX_TEXT = 1000  # characters of any one text: a note, a message, a name
MAX_NOTES = 20  # notes in a sample, a cell record or a variable
MAX_GPUS = 64  # GPUs in a sample (and per cell record)
MAX_HINTS = 100  # leak hints in a `hints` message
MAX_VARIABLES = 5000  # variables in a `variables` answer
MAX_DIMS = 32  # dimensions of a variable's shape
MAX_SHARED = 100  # names in a variable's shared_with

log = logging.getLogger("oomguard")


def clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, float(seconds)))


def _envelope(kind: str, **fields: Any) -> dict:
    return {"v": PROTOCOL_VERSION, "type": kind, **fields}


def clip(text: str) -> str:
    """A text cut to MAX_TEXT characters (the last one an ellipsis when cut)."""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "\u2026"


def capped_notes(notes) -> list:
    """Notes as sent: texts only, each said once, cut to MAX_TEXT characters; past
    MAX_NOTES the last one says how many more there were."""
    said = list(dict.fromkeys(clip(note) for note in notes or () if isinstance(note, str)))
    if len(said) > MAX_NOTES:
        more = len(said) - (MAX_NOTES - 1)
        said = said[:MAX_NOTES - 1] + [f"\u2026 and {more} more notes."]
    return said


def _clipped(entry: dict, fields) -> dict:
    """A copy of `entry` whose text `fields` are cut to MAX_TEXT."""
    entry = dict(entry)
    for name in fields:
        if isinstance(entry.get(name), str):
            entry[name] = clip(entry[name])
    return entry


def _gpu(gpu) -> dict:
    return _clipped(gpu, ("uuid", "name", "source")) if isinstance(gpu, dict) else gpu


def finding(found: dict) -> dict:
    """A Finding dict as sent: its texts cut to MAX_TEXT."""
    return _clipped(found, ("kind", "device", "message", "suggestion"))


def capped_findings(found) -> list:
    return [finding(f) if isinstance(f, dict) else f for f in list(found or ())[:MAX_FINDINGS]]


def cell_record(record: dict) -> dict:
    """A CellRecord dict as sent: notes, findings and GPUs within their caps."""
    record = _clipped(record, ("cell_id", "peak_method", "stopped_by"))
    if "notes" in record:
        record["notes"] = capped_notes(record["notes"])
    if "findings" in record:
        record["findings"] = capped_findings(record["findings"])
    if isinstance(record.get("gpu"), list):
        record["gpu"] = record["gpu"][:MAX_GPUS]
    return record


def hello(*, shim_version: str, pid: int, interval: float, python: str, peak_method: str,
          oom_kills: Optional[int] = None, oom_kills_file: Optional[str] = None,
          oom_group: Optional[bool] = None, oom_group_file: Optional[str] = None,
          cgroup_peak: Optional[int] = None, cgroup_peak_file: Optional[str] = None) -> dict:
    """`oom_kills`: the OOM killer's count for this kernel's cgroup (None: no counter),
    read from `oom_kills_file`; a front end compares it across a restart. `oom_group`:
    True where one OOM kill ends the whole container (cgroup v2 memory.oom.group = 1,
    read from `oom_group_file`), False where not, None where it cannot be known.
    `cgroup_peak`: the memory cgroup's high-water mark (v1 memory.max_usage_in_bytes, v2
    memory.peak, read from `cgroup_peak_file`): after a death, what the dead kernel's
    group reached, even where no sample caught it."""
    return _envelope("hello", shim_version=shim_version, pid=pid, interval=interval,
                     python=python, peak_method=peak_method, oom_kills=oom_kills,
                     oom_kills_file=oom_kills_file, oom_group=oom_group,
                     oom_group_file=oom_group_file, cgroup_peak=cgroup_peak,
                     cgroup_peak_file=cgroup_peak_file)


def sample(reading: dict) -> dict:
    """A `sample` message from a reading; fields the reading lacks are null ("not measured")."""
    body = {name: reading.get(name) for name in SAMPLE_FIELDS}
    body["notes"] = capped_notes(reading.get("notes"))
    cluster = reading.get("cluster")
    if cluster is not None:  # only while a cluster's client is in the namespace
        body["cluster"] = {name: cluster.get(name) for name in CLUSTER_SAMPLE_FIELDS}
    if body["limit_source"] is None:
        body["limit_source"] = "unknown"
    if isinstance(body["gpus"], list):
        body["gpus"] = [_gpu(gpu) for gpu in body["gpus"][:MAX_GPUS]]
    return _envelope("sample", **body)


def cell_start(running_cell: dict) -> dict:
    return _envelope("cell_start", execution_count=running_cell.get("execution_count"),
                     cell_id=running_cell.get("cell_id"), start=running_cell.get("start"))


def cell(record: dict) -> dict:
    return _envelope("cell", record=cell_record(record))


MAX_SIZES = 500  # the largest variables sent after each cell; the rest are small
MAX_NAME = 200  # characters of a variable's name in `sizes`
MAX_FINDINGS = 200  # Findings in one `warning` or `prediction`
MAX_SPOOL_SAMPLES = 5000  # samples in one `spool` answer (thinned beyond)
MAX_SPOOL_CELLS = 2000  # cell records in one `spool` answer (the newest kept)


def sizes(execution_count: Optional[int], found: dict, truncated: bool) -> dict:
    """The namespace's sizes after a cell ({name: bytes or None}), the largest
    `MAX_SIZES` of them, so the front end can show what each variable grew by."""
    largest = sorted(found.items(), key=lambda item: -(item[1] or 0))[:MAX_SIZES]
    return _envelope("sizes", execution_count=execution_count,
                     sizes={str(name)[:MAX_NAME]: size for name, size in largest},
                     truncated=bool(truncated) or len(found) > MAX_SIZES)


def hints(found: list) -> dict:
    """Leak hints: {kind, name, message, suggestion, bytes} each (leaks.py), the first
    MAX_HINTS, texts cut to MAX_TEXT."""
    return _envelope("hints", hints=[
        _clipped(hint, ("kind", "name", "message", "suggestion")) if isinstance(hint, dict)
        else hint for hint in list(found)[:MAX_HINTS]])


def _variable(info) -> dict:
    if not isinstance(info, dict):
        return info
    info = _clipped(info, ("name", "type", "device", "dtype"))
    if "notes" in info:
        info["notes"] = capped_notes(info["notes"])
    if isinstance(info.get("shape"), list) and len(info["shape"]) > MAX_DIMS:
        info["shape"] = None  # not a shape the front end can show: not measured
    if isinstance(info.get("shared_with"), list):
        info["shared_with"] = [clip(name) for name in info["shared_with"][:MAX_SHARED]
                               if isinstance(name, str)]
    return info


def variables(found: list, truncated: bool, took: float) -> dict:
    """The answer to a `variables` request: at most MAX_VARIABLES (the largest come
    first from the scan), each within its caps."""
    found = list(found)
    return _envelope("variables", variables=[_variable(v) for v in found[:MAX_VARIABLES]],
                     truncated=bool(truncated) or len(found) > MAX_VARIABLES,
                     took=float(took))


def prediction(request_id: int, cell_id: Optional[str], findings: list, free: dict,
               limit: Optional[int], took: float, note: Optional[str] = None) -> dict:
    """The answer to a `predict` request; `note` says why there are no findings where
    the cell could not be judged (too long, a cell is running, the check is off...)."""
    return _envelope("prediction", id=request_id, cell_id=cell_id,
                     findings=capped_findings(findings), free=dict(free), limit=limit,
                     took=float(took), note=note if note is None else clip(note))


def warning(findings: list, execution_count: Optional[int], cell_id: Optional[str],
            mode: str, free: dict, limit: Optional[int], *, setting: Optional[str] = None,
            single_call: bool = False, page_cache: Optional[int] = None) -> dict:
    """Before a cell runs: what the pre-run check predicts may not fit (docs/guard.md).
    `mode` is what happened to the cell ("warn": it runs; "block": it was stopped),
    `setting` the guard's mode that decided ("auto", "warn" or "block")."""
    return _envelope("warning", findings=capped_findings(findings),
                     execution_count=execution_count, cell_id=cell_id, mode=mode,
                     free=dict(free), limit=limit, setting=setting or mode,
                     single_call=bool(single_call), page_cache=page_cache)


def spool(pid: int, since: Optional[float], samples: list, cells: list, truncated: bool,
          note: Optional[str] = None) -> dict:
    """The answer to a `spool` request: what kernel `pid` wrote to its spool after `since`
    (samples without their envelope); `note` says plainly why there is nothing."""
    return _envelope("spool", pid=pid, since=since, samples=list(samples),
                     cells=[cell_record(c) if isinstance(c, dict) else c for c in cells],
                     truncated=bool(truncated), note=note if note is None else clip(note))


def error(message: str) -> dict:
    return _envelope("error", message=clip(str(message)))


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `true` is not a number on the wire.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class DropWarnings:
    """Says why an incoming message was dropped, but a flood of bad messages is not a
    flood of warnings (each one is a write to the kernel's stderr, which ipykernel sends
    on iopub): at most one per `window` seconds, saying how many went unsaid."""

    def __init__(self, window: float = 10.0):
        self.window = window
        self._lock = threading.Lock()
        self._quiet_until = 0.0
        self._unsaid = 0

    def __call__(self, reason: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._quiet_until:
                self._unsaid += 1
                return
            unsaid, self._unsaid = self._unsaid, 0
            self._quiet_until = now + self.window
        more = f" (and {unsaid} more since the last such warning)" if unsaid else ""
        log.warning("oomguard: dropped an incoming comm message: %s%s", reason, more)


drop_warnings = DropWarnings()


def _drop(reason: str) -> None:
    drop_warnings(reason)
    return None


def parse_incoming(data: Any) -> Optional[dict]:
    """Validate a front end -> kernel message body.

    Returns a normalised dict (``{"type": "open", "client": ...}``,
    ``{"type": "settings", "interval": float | None}``, ``{"type": "refresh"}``,
    ``{"type": "variables"}``, ``{"type": "predict", "id": int, "source": str,
    "cell_id": str | None}``, ``{"type": "spool", "pid": int, "since": float | None}``)
    or None
    for anything malformed, unknown or of another protocol version."""
    try:
        if not isinstance(data, dict):
            return _drop(f"expected a JSON object, got {type(data).__name__}")
        version = data.get("v")
        if not _is_number(version) or int(version) != version:
            return _drop("missing or non-integer protocol version 'v'")
        if version != PROTOCOL_VERSION:
            return _drop(f"the front end speaks protocol v{int(version)}, this kernel's "
                         f"oomguard speaks v{PROTOCOL_VERSION}")
        kind = data.get("type")
        if kind not in INCOMING_TYPES:
            shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
            return _drop(f"unknown message type {shown!r}")
        if kind == "open":
            client = data.get("client", "unknown")
            if not isinstance(client, str):
                return _drop("'client' must be a string")
            return {"type": "open", "client": client[:200]}
        if kind == "settings":
            interval = data.get("interval")
            if interval is not None:
                if not _is_number(interval):
                    return _drop("'interval' must be a finite number of seconds")
                interval = clamp_interval(interval)
            return {"type": "settings", "interval": interval}
        if kind == "predict":
            return _parse_predict(data)
        if kind == "spool":
            return _parse_spool(data)
        return {"type": kind}  # refresh, variables: no fields
    except Exception as exc:  # e.g. a dict subclass with a hostile __eq__: still never raise
        return _drop(f"could not be read ({type(exc).__name__})")


def _parse_predict(data: dict) -> Optional[dict]:
    request_id, source, cell_id = data.get("id"), data.get("source"), data.get("cell_id")
    if not _is_number(request_id) or int(request_id) != request_id \
            or not 0 <= request_id <= MAX_REQUEST_ID:
        return _drop("predict: 'id' must be a non-negative integer")
    if not isinstance(source, str) or len(source) > MAX_PREDICT_SOURCE:
        return _drop(f"predict: 'source' must be a string of at most {MAX_PREDICT_SOURCE} "
                     "characters")
    if cell_id is not None and (not isinstance(cell_id, str) or len(cell_id) > MAX_CELL_ID):
        return _drop(f"predict: 'cell_id' must be null or a string of at most {MAX_CELL_ID} "
                     "characters")
    return {"type": "predict", "id": int(request_id), "source": str(source),
            "cell_id": None if cell_id is None else str(cell_id)}


def _parse_spool(data: dict) -> Optional[dict]:
    # The pid only picks a spool by its file name (spool.py); no path comes from here.
    pid, since = data.get("pid"), data.get("since")
    if not _is_number(pid) or int(pid) != pid or not 0 < pid <= MAX_PID:
        return _drop("spool: 'pid' must be a positive integer")
    if since is not None and (not _is_number(since) or since < 0):
        return _drop("spool: 'since' must be null or epoch seconds")
    return {"type": "spool", "pid": int(pid), "since": None if since is None else float(since)}
