"""oomguard: live kernel memory against the session's real limit.

`%load_ext oomguard` (or `oomguard.enable()`) starts a sampler thread and registers the
"oomguard" comm target that the JupyterLab extension talks to (docs/protocol.md)."""
from __future__ import annotations

import logging

try:
    from ._version import __version__  # written by hatch at build time
except ImportError:
    __version__ = "0.0.0+unknown"

from .protocol import SAMPLE_FIELDS
from .runtime import Runtime

# A library does not configure logging; this keeps warnings out of cell output unless
# the user sets up logging for "oomguard".
logging.getLogger("oomguard").addHandler(logging.NullHandler())
_log = logging.getLogger("oomguard")

_runtime = Runtime(__version__)

__all__ = ["enable", "disable", "snapshot", "__version__"]


def enable(**settings) -> None:
    """Start measuring (idempotent). Settings: interval (seconds, 0.1-60, default 1.0),
    limit (bytes: your own limit, used when smaller than the real one)."""
    try:
        _runtime.enable(**settings)
    except Exception:
        _log.warning("oomguard: enable failed", exc_info=True)


def disable() -> None:
    """Stop the sampler, close open comms and unregister the comm target."""
    try:
        _runtime.disable()
    except Exception:
        _log.warning("oomguard: disable failed", exc_info=True)


def snapshot() -> dict:
    """The current reading: the fields of a `sample` message (docs/protocol.md)."""
    try:
        return _runtime.snapshot()
    except Exception:
        _log.warning("oomguard: snapshot failed", exc_info=True)
        reading = {name: None for name in SAMPLE_FIELDS}
        reading.update(limit_source="unknown", notes=["oomguard could not take a reading."])
        return reading


def load_ipython_extension(ip) -> None:
    enable()


def unload_ipython_extension(ip) -> None:
    disable()


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-oomguard"}]
