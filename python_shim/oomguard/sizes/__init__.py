"""Per-variable memory: what each name in the user's namespace keeps alive.

`scan_namespace` is the engine behind `oomguard.variables()`; see scan.py for the order
of work and safe.py for how user objects are read without running their code."""
from .scan import VARIABLE_FIELDS, scan_namespace, variable_sizes

__all__ = ["scan_namespace", "variable_sizes", "VARIABLE_FIELDS"]
