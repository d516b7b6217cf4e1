"""Argument helpers shared by the rules: sizes, dtypes and devices from abstract values."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..resolve import device_name
from ..values import UNKNOWN, Arr, DType, Ev, Ref, Seq, canonical_dtype

_PY_TYPES = {"builtins.float": "float64", "builtins.int": "int64", "builtins.bool": "bool"}


class NotHandled(Exception):
    """A rule recognised the call but not its arguments: the result is unknown."""


def as_int(value: Any) -> Optional[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def items_of(value: Any) -> Optional[tuple]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, Seq) and value.items is not None:
        return value.items
    return None


def shape_arg(values) -> Optional[Tuple[int, ...]]:
    """Sizes given as varargs (3, 4) or one sequence ((3, 4)) or one int."""
    if len(values) == 1:
        inner = items_of(values[0])
        if inner is not None:
            values = inner
    dims = tuple(as_int(v) for v in values)
    if not dims or any(d is None or d < 0 for d in dims):
        return None if dims else ()
    return dims


def kw(kwargs: Dict[str, Ev], name: str, default: Any = UNKNOWN) -> Any:
    ev = kwargs.get(name)
    return default if ev is None else ev.value


def dtype_of(value: Any, default: Optional[str]) -> Optional[str]:
    if isinstance(value, DType):
        return value.name
    if isinstance(value, Ref):
        if value.path in _PY_TYPES:
            return _PY_TYPES[value.path]
        return canonical_dtype(value.path.rsplit(".", 1)[-1]) or default
    if isinstance(value, str):
        return canonical_dtype(value) or default
    return default


def device_of(value: Any, default: str = "cpu") -> str:
    return device_name(value) or default


def arrays_in(values) -> list:
    return [v for v in values if isinstance(v, Arr)]


def torch_default_float() -> str:
    import sys
    torch = sys.modules.get("torch")
    try:  # reads a global setting; never imports or initialises anything
        name = str(torch.get_default_dtype()) if torch is not None else "float32"
    except Exception:
        return "float32"
    return canonical_dtype(name) or "float32"
