"""The oomguard comm protocol, version 1 (docs/protocol.md): message builders for what the
kernel sends and a reader for what it receives. The messages and their limits are
defined once, in schema/protocol.json (shipped in this package, read by schemas.py):
the reader reads incoming messages with it, and the caps below are read from it.
The reader never raises: anything malformed, unknown or of another version is logged on
the ``oomguard`` logger and dropped.

The builders keep every message within those limits: a text is cut at MAX_TEXT
characters, a list at its cap (notes say how many more there were), so that a busy
machine (16 GPUs, each with its notes) never sends what the other side must cut. The
tests validate every message they build against the schema."""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Optional

from .schemas import BAD, protocol_at, protocol_reader

PROTOCOL_VERSION = protocol_at("version", "const")
TARGET_NAME = "oomguard"
_INTERVAL = protocol_at("settingsRequest", "properties", "interval")
MIN_INTERVAL, MAX_INTERVAL = float(_INTERVAL["minimum"]), float(_INTERVAL["maximum"])

# A sample's fields (the optional `cluster` is added only while a cluster is watched).
SAMPLE_FIELDS = tuple(name for name in protocol_at("sample", "properties") if name != "cluster")
# A sample's optional `cluster`: the newest figures of a Dask cluster (clusters/).
CLUSTER_SAMPLE_FIELDS = tuple(protocol_at("clusterFigures", "properties"))
MAX_PREDICT_SOURCE = protocol_at("predictRequest", "properties", "source", "maxLength")
MAX_CELL_ID = protocol_at("predictRequest", "properties", "cell_id", "maxLength")
# Characters of any one text (a note, a message, a name); notes in a sample, a record or a
# variable; GPUs in a sample and in a record; Findings in a warning, prediction or record.
MAX_TEXT = protocol_at("text", "maxLength")
MAX_NOTES = protocol_at("notes", "maxItems")
MAX_GPUS = protocol_at("sample", "properties", "gpus", "maxItems")
MAX_CELL_GPUS = protocol_at("cellRecord", "properties", "gpu", "maxItems")
MAX_FINDINGS = protocol_at("findings", "maxItems")
MAX_HINTS = protocol_at("hintsMessage", "properties", "hints", "maxItems")
MAX_VARIABLES = protocol_at("variablesMessage", "properties", "variables", "maxItems")
MAX_DIMS = protocol_at("variableInfo", "properties", "shape", "maxItems")
MAX_SHARED = protocol_at("variableInfo", "properties", "shared_with", "maxItems")
MAX_SIZES = protocol_at("sizesMessage", "properties", "sizes", "maxProperties")
MAX_NAME = protocol_at("sizesMessage", "properties", "sizes", "propertyNames", "maxLength")
MAX_SPOOL_SAMPLES = protocol_at("spoolMessage", "properties", "samples", "maxItems")
MAX_SPOOL_CELLS = protocol_at("spoolMessage", "properties", "cells", "maxItems")
MAX_WORKERS = protocol_at("clusterCellRecord", "properties", "per_worker", "maxProperties")
MAX_WORKER_EVENTS = protocol_at("clusterCellRecord", "properties", "restarted", "maxItems")

def _requests() -> dict:
    """Each incoming message type, and its definition's name."""
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in protocol_at("clientMessage", "oneOf")]
    return {protocol_at(name, "properties", "type", "const"): name for name in names}


INCOMING = _requests()
INCOMING_TYPES = tuple(INCOMING)

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
    if not isinstance(notes, (list, tuple)):
        return []  # a text is not a list of notes (its letters are not notes)
    said = list(dict.fromkeys(clip(note) for note in notes if isinstance(note, str)))
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
        record["gpu"] = record["gpu"][:MAX_CELL_GPUS]
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
    # The files' paths come from /proc/self/cgroup and the mounts: cut to MAX_TEXT like
    # every other text the kernel sends.
    return _envelope("hello", **_clipped(dict(
        shim_version=shim_version, pid=pid, interval=interval, python=python,
        peak_method=peak_method, oom_kills=oom_kills, oom_kills_file=oom_kills_file,
        oom_group=oom_group, oom_group_file=oom_group_file, cgroup_peak=cgroup_peak,
        cgroup_peak_file=cgroup_peak_file),
        ("shim_version", "python", "peak_method", "oom_kills_file", "oom_group_file",
         "cgroup_peak_file")))


def sample(reading: dict) -> dict:
    """A `sample` message from a reading; fields the reading lacks are null ("not measured")."""
    return _envelope("sample", **sample_body(reading))


def sample_body(reading: dict) -> dict:
    """A `sample` message's fields (as a `spool` answer carries each sample)."""
    body = {name: reading.get(name) for name in SAMPLE_FIELDS}
    body["notes"] = capped_notes(reading.get("notes"))
    cluster = reading.get("cluster")
    if cluster is not None:  # only while a cluster's client is in the namespace
        body["cluster"] = {name: cluster.get(name) for name in CLUSTER_SAMPLE_FIELDS}
    if body["limit_source"] is None:
        body["limit_source"] = "unknown"
    if isinstance(body["gpus"], list):
        body["gpus"] = [_gpu(gpu) for gpu in body["gpus"][:MAX_GPUS]]
    return body


def cell_start(running_cell: dict) -> dict:
    return _envelope("cell_start", execution_count=running_cell.get("execution_count"),
                     cell_id=running_cell.get("cell_id"), start=running_cell.get("start"))


def cell(record: dict) -> dict:
    return _envelope("cell", record=cell_record(record))


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


def _is_version(value: Any) -> bool:
    # bool is an int subclass, but `true` is not a number on the wire.
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and int(value) == value


def parse_incoming(data: Any) -> Optional[dict]:
    """Read a front end -> kernel message body with the protocol's schema.

    Returns a normalised dict (``{"type": "open", "client": ...}``,
    ``{"type": "settings", "interval": float | None}``, ``{"type": "refresh"}``,
    ``{"type": "variables"}``, ``{"type": "predict", "id": int, "source": str,
    "cell_id": str | None}``, ``{"type": "spool", "pid": int, "since": float | None}``)
    or None for anything malformed, unknown or of another protocol version."""
    try:
        if not isinstance(data, dict):
            return _drop(f"expected a JSON object, got {type(data).__name__}")
        version = data.get("v")
        if not _is_version(version):
            return _drop("missing or non-integer protocol version 'v'")
        if version != PROTOCOL_VERSION:
            return _drop(f"the front end speaks protocol v{int(version)}, this kernel's "
                         f"oomguard speaks v{PROTOCOL_VERSION}")
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in INCOMING:
            shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
            return _drop(f"unknown message type {shown!r}")
        reader = protocol_reader()
        problems: list = []
        message = reader.read(reader.definition(INCOMING[kind]), data, kind, problems)
        if message is BAD:
            why = [p for p in problems if p.endswith(": missing or unreadable")]
            return _drop(f"{why[-1] if why else kind} (schema/protocol.json)")
        return _normalised(kind, message)
    except Exception as exc:  # e.g. a dict subclass with a hostile __eq__: still never raise
        return _drop(f"could not be read ({type(exc).__name__})")


def _normalised(kind: str, message: dict) -> dict:
    """Plain Python values of the fields each request carries, nothing else."""
    if kind == "open":
        return {"type": "open", "client": str(message["client"])}
    if kind == "settings":
        interval = message.get("interval")
        return {"type": "settings", "interval": None if interval is None else float(interval)}
    if kind == "predict":
        cell_id = message["cell_id"]
        return {"type": "predict", "id": int(message["id"]), "source": str(message["source"]),
                "cell_id": None if cell_id is None else str(cell_id)}
    if kind == "spool":
        # The pid only picks a spool by its file name (spool.py); no path comes from here.
        since = message["since"]
        return {"type": "spool", "pid": int(message["pid"]),
                "since": None if since is None else float(since)}
    return {"type": kind}  # refresh, variables: no fields
