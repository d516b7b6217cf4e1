"""Every torch function and Tensor method no specific rule handles: evaluated on meta
tensors (predict/torchmeta.py), so its shape, dtype and whether it is a view come from
PyTorch itself. A result that shares an input's memory (a view) allocates nothing."""
from __future__ import annotations

from typing import Optional

from ..torchmeta import MetaTorch, evaluate
from ..values import Arr, Ev

MAX_ARGS = 32


def call_function(an, node, path: str, args, kwargs, inputs, display: str = "",
                  grows: str = "expansion") -> Optional[Ev]:
    meta = MetaTorch.get()
    func = meta.function(path) if meta is not None else None
    if func is None:
        return None
    return _evaluate(an, node, meta, func, display or path, None, args, kwargs, inputs,
                     grows)


def call_method(an, node, arr: Arr, name: str, args, kwargs, inputs) -> Optional[Ev]:
    if arr.lib != "torch":
        return None
    meta = MetaTorch.get()
    func = meta.method(name) if meta is not None else None
    if func is None:
        return None
    return _evaluate(an, node, meta, func, f".{name}()", arr, args, kwargs, inputs)


def _evaluate(an, node, meta, func, display, self_value, args, kwargs, inputs,
              grows: str = "expansion"):
    if len(args) + len(kwargs) > MAX_ARGS:
        return None
    an.budget.check()
    values = {key: ev.value for key, ev in kwargs.items()}
    result = evaluate(meta, func, list(args), values, self_value)
    if result is None:
        return None
    arrays = [v for v in list(args) + list(values.values()) + [self_value]
              if isinstance(v, Arr)]
    if result.nbytes == 0 or result.biggest is None:
        return Ev(result.value, an.merge_temps(inputs))  # a view, a size or a number
    largest = max((a.nbytes or 0 for a in arrays), default=0)
    if not arrays:
        kind = "dense_constructor"
    elif result.nbytes > largest:
        kind = grows
    else:
        kind = "elementwise"
    ev = an.alloc(node, result.biggest, inputs, kind, f"{display} (shape from PyTorch)",
                  nbytes=result.nbytes, transient=result.transient)
    ev.value = result.value
    return ev
