"""Python builtins the predictor understands (len, range, int, next/iter, ...), what a
for loop binds, list comprehensions over range(k), and `[x] * k`."""
from __future__ import annotations

import ast
import math

from ..values import (RANGE_ITEM, SCALAR, RangeItem, UNKNOWN, Arr, Ev, GraphList, Loader, LoopInt,
                      NxGraph, ReadInt, Ref, Seq, SparseMat, TensorSet)
from .common import as_int, items_of
from .registry import func

MAX_ITEMS = 10_000


@func("builtins.len")
def length(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    value = args[0] if args else UNKNOWN
    if isinstance(value, tuple):
        return Ev(len(value))
    if isinstance(value, Seq) and value.count is not None:
        return Ev(value.count)
    if isinstance(value, GraphList):
        return Ev(value.count)
    if isinstance(value, TensorSet) and value.count is not None:
        return Ev(value.count)
    if isinstance(value, (Arr, SparseMat)) and value.shape:
        return Ev(value.shape[0])
    if isinstance(value, NxGraph) and value.num_nodes is not None:
        return Ev(value.num_nodes)
    return Ev(UNKNOWN)


@func("builtins.range")
def range_(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    bounds = [as_int(a) for a in args]
    if not bounds or None in bounds:
        return Ev(Seq(None, each=RANGE_ITEM))
    try:
        items = range(*bounds)
        largest = max(items[0], items[-1]) if len(items) else None
        return Ev(Seq(len(items), each=RangeItem(largest)))
    except Exception:
        return Ev(Seq(None, each=RANGE_ITEM))


@func("builtins.int", "builtins.float", "builtins.abs", "builtins.round")
def number(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    value = args[0] if len(args) == 1 else UNKNOWN
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if isinstance(value, ReadInt) and name in ("int", "abs", "round"):
        return Ev(value)  # keeps what it was read from
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return Ev({"int": int, "float": float, "abs": abs, "round": round}
                      .get(name, lambda v: v)(value))
        except Exception:
            return Ev(UNKNOWN)
    return Ev(UNKNOWN)


@func("builtins.min", "builtins.max", "builtins.sum")
def minmax(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    values = items_of(args[0]) if len(args) == 1 else tuple(args)
    if values and all(as_int(v) is not None for v in values):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        return Ev({"min": min, "max": max, "sum": sum}.get(name, max)(values))
    return Ev(UNKNOWN)


@func("builtins.iter", "builtins.list", "builtins.tuple")
def passthrough(an, node, args, kwargs, inputs):
    if len(args) != 1:
        return None
    return Ev(args[0], an.merge_temps(inputs))


@func("builtins.next")
def next_(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    return Ev(element_of(an, None, Ev(args[0])) if args else UNKNOWN)


@func("builtins.enumerate")
def enumerate_(an, node, args, kwargs, inputs):
    inner = element_of(an, None, Ev(args[0])) if args else UNKNOWN
    for ev in inputs:
        an.free(ev)
    return Ev(Seq(None, each=(UNKNOWN, inner)))


def element_of(an, node, ev: Ev):
    """What `for target in <ev>` binds."""
    value = ev.value
    if isinstance(value, Loader):
        if value.batch is UNKNOWN and isinstance(value.dataset, GraphList) \
                and value.dataset.count and value.batch_size:
            from .batching import batch_graph  # a loader read from the namespace
            return batch_graph(value.dataset, min(1.0, value.batch_size / value.dataset.count))
        return value.batch
    if isinstance(value, Seq):
        if value.items:
            return value.items[0]
        return value.each
    if isinstance(value, tuple):
        return value[0] if value else UNKNOWN
    if isinstance(value, GraphList) and value.count:
        from .batching import batch_graph
        return batch_graph(value, 1 / value.count)
    if isinstance(value, Arr) and value.shape:
        return value.but(shape=value.shape[1:])
    return UNKNOWN


def repeat_seq(value, times: int):
    if times < 0:
        times = 0
    items = items_of(value)
    if items is not None and len(items) * times <= MAX_ITEMS:
        repeated = items * times
        return repeated if isinstance(value, tuple) else Seq(len(repeated), repeated)
    count = value.count if isinstance(value, Seq) else len(value)
    if count is None:
        return Seq(None)
    each = items[0] if items and all(i == items[0] for i in items) else UNKNOWN
    return Seq(count * times, each=each)


def listcomp(an, node: ast.ListComp) -> Ev:
    """[f(...) for _ in range(k)]: the element once, its allocation k times over."""
    if len(node.generators) != 1 or node.generators[0].ifs or node.generators[0].is_async:
        return Ev(UNKNOWN)
    generator = node.generators[0]
    source = an.expr(generator.iter)
    count = source.value.count if isinstance(source.value, Seq) else \
        source.value.count if isinstance(source.value, GraphList) else \
        source.value.shape[0] if isinstance(source.value, Arr) and source.value.shape \
        else None
    element = element_of(an, None, source)
    if isinstance(element, RangeItem):
        element = LoopInt(generator.target.id, largest=element.largest) \
            if isinstance(generator.target, ast.Name) else UNKNOWN
    an.bind(generator.target, Ev(element))
    an.free(source)
    element = an.expr(node.elt)
    if count is None:
        an.free(element)
        return Ev(Seq(None, each=element.value))
    temp = {}
    for device, nbytes in element.temp.items():
        temp[device] = nbytes * count
        an.live[device] += nbytes * (count - 1)
        if count > 1:
            an.record(node, "list_of_arrays", nbytes * count, an.live[device], device,
                      f"a list of {count:,} arrays", None, "")
    if count == 0:
        for device, nbytes in element.temp.items():
            an.live[device] -= nbytes
        temp = {}
    element.temp = {}
    return Ev(Seq(count, each=element.value), temp)


__all__ = ["element_of", "listcomp", "repeat_seq", "Ref"]


@func("copy.copy")
def shallow_copy(an, node, args, kwargs, inputs):
    """copy.copy shares every tensor and array of what it copies: nothing new."""
    if len(args) != 1:
        return None
    return Ev(args[0], an.merge_temps(inputs))


@func("copy.deepcopy")
def deep_copy(an, node, args, kwargs, inputs):
    value = args[0] if args else None
    size = getattr(value, "nbytes", None)
    if not isinstance(size, int) or not size:
        return None
    device = getattr(value, "device", "cpu")
    ev = an.alloc(node, Arr("torch", (size,), "uint8", device, role="bytes"), inputs, "clone",
                  "copy.deepcopy copies every tensor it holds",
                  exact=not getattr(value, "estimated", False))
    ev.value = value
    return ev


@func("torch.Size")
def torch_size(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    items = items_of(args[0]) if args else ()
    if items is not None and all(as_int(v) is not None for v in items):
        return Ev(tuple(items))
    return Ev(UNKNOWN)


_MATH = ("sqrt", "ceil", "floor", "log", "log2", "log10", "exp", "prod", "isqrt", "pow",
         "fabs", "comb", "factorial", "trunc")


@func(*(f"math.{name}" for name in _MATH))
def math_function(an, node, args, kwargs, inputs):
    """The math module on numbers the cell knows (pure, no user object involved); on
    unknown ones, some number."""
    for ev in inputs:
        an.free(ev)
    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
    numbers = [a for a in args if type(a) in (int, float) or isinstance(a, ReadInt)]
    if numbers and len(numbers) == len(args) and not kwargs and name in _MATH \
            and all(abs(a) < 1 << 64 for a in numbers):
        try:
            if name == "prod" and len(numbers) == 1:
                return Ev(SCALAR)
            if name == "factorial" and numbers[0] > 1000:
                return Ev(SCALAR)
            return Ev(getattr(math, name)(*numbers))
        except (ValueError, OverflowError, TypeError):
            return Ev(SCALAR)
    return Ev(SCALAR)
