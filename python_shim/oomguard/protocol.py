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
    "host_total", "host_available", "notes", "gpus", "running_cell",
)
INCOMING_TYPES = ("open", "settings", "refresh", "variables")

log = logging.getLogger("oomguard")


def clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, float(seconds)))


def _envelope(kind: str, **fields: Any) -> dict:
    return {"v": PROTOCOL_VERSION, "type": kind, **fields}


def hello(*, shim_version: str, pid: int, interval: float, python: str, peak_method: str) -> dict:
    return _envelope("hello", shim_version=shim_version, pid=pid, interval=interval,
                     python=python, peak_method=peak_method)


def sample(reading: dict) -> dict:
    """A `sample` message from a reading; fields the reading lacks are null ("not measured")."""
    body = {name: reading.get(name) for name in SAMPLE_FIELDS}
    body["notes"] = list(reading.get("notes") or [])
    if body["limit_source"] is None:
        body["limit_source"] = "unknown"
    return _envelope("sample", **body)


def cell_start(running_cell: dict) -> dict:
    return _envelope("cell_start", execution_count=running_cell.get("execution_count"),
                     cell_id=running_cell.get("cell_id"), start=running_cell.get("start"))


def cell(record: dict) -> dict:
    return _envelope("cell", record=record)


def hints(found: list) -> dict:
    """Leak hints: {kind, name, message, suggestion, bytes} each (leaks.py)."""
    return _envelope("hints", hints=list(found))


def variables(found: list, truncated: bool, took: float) -> dict:
    return _envelope("variables", variables=list(found), truncated=bool(truncated),
                     took=float(took))


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
    ``{"type": "variables"}``) or None
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
        return {"type": kind}  # refresh, variables: no fields
    except Exception as exc:  # e.g. a dict subclass with a hostile __eq__: still never raise
        return _drop(f"could not be read ({type(exc).__name__})")
