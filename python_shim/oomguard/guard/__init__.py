"""The guard (docs/guard.md): warn or block before a risky cell, interrupt a cell whose
memory nears the session's limit, and optionally cap the data segment."""
from .core import DEFAULT_MODE, DEFAULT_WATCHDOG, MODES, SETTINGS, Guard

__all__ = ["Guard", "MODES", "SETTINGS", "DEFAULT_MODE", "DEFAULT_WATCHDOG"]
