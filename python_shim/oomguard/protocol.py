"""The oomguard comm protocol, version 1 (docs/protocol.md): message builders for what the
kernel sends and a validator for what it receives. The validator never raises: anything
malformed, unknown or of another version is logged on the ``oomguard`` logger and dropped."""
from __future__ import annotations

import logging
import math
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

log = logging.getLogger("oomguard")


def clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, float(seconds)))


def _envelope(kind: str, **fields: Any) -> dict:
    return {"v": PROTOCOL_VERSION, "type": kind, **fields}


def hello(*, shim_version: str, pid: int, interval: float, python: str, peak_method: str,
          oom_kills: Optional[int] = None, oom_kills_file: Optional[str] = None) -> dict:
    """`oom_kills`: the OOM killer's count for this kernel's cgroup (None: no counter),
    read from `oom_kills_file`; a front end compares it across a restart."""
    return _envelope("hello", shim_version=shim_version, pid=pid, interval=interval,
                     python=python, peak_method=peak_method, oom_kills=oom_kills,
                     oom_kills_file=oom_kills_file)


def sample(reading: dict) -> dict:
    """A `sample` message from a reading; fields the reading lacks are null ("not measured")."""
    body = {name: reading.get(name) for name in SAMPLE_FIELDS}
    body["notes"] = list(reading.get("notes") or [])
    cluster = reading.get("cluster")
    if cluster is not None:  # only while a cluster's client is in the namespace
        body["cluster"] = {name: cluster.get(name) for name in CLUSTER_SAMPLE_FIELDS}
    if body["limit_source"] is None:
        body["limit_source"] = "unknown"
    return _envelope("sample", **body)


def cell_start(running_cell: dict) -> dict:
    return _envelope("cell_start", execution_count=running_cell.get("execution_count"),
                     cell_id=running_cell.get("cell_id"), start=running_cell.get("start"))


def cell(record: dict) -> dict:
    return _envelope("cell", record=record)


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
    """Leak hints: {kind, name, message, suggestion, bytes} each (leaks.py)."""
    return _envelope("hints", hints=list(found))


def variables(found: list, truncated: bool, took: float) -> dict:
    return _envelope("variables", variables=list(found), truncated=bool(truncated),
                     took=float(took))


def prediction(request_id: int, cell_id: Optional[str], findings: list, free: dict,
               limit: Optional[int], took: float, note: Optional[str] = None) -> dict:
    """The answer to a `predict` request; `note` says why there are no findings where
    the cell could not be judged (too long, a cell is running, the check is off...)."""
    return _envelope("prediction", id=request_id, cell_id=cell_id, findings=list(findings),
                     free=dict(free), limit=limit, took=float(took), note=note)


def spool(pid: int, since: Optional[float], samples: list, cells: list, truncated: bool,
          note: Optional[str] = None) -> dict:
    """The answer to a `spool` request: what kernel `pid` wrote to its spool after `since`
    (samples without their envelope); `note` says plainly why there is nothing."""
    return _envelope("spool", pid=pid, since=since, samples=list(samples), cells=list(cells),
                     truncated=bool(truncated), note=note)


def error(message: str) -> dict:
    return _envelope("error", message=str(message))


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `true` is not a number on the wire.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _drop(reason: str) -> None:
    log.warning("oomguard: dropped an incoming comm message: %s", reason)
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
