"""Copies that combine or multiply arrays: torch.cat/stack (and numpy's concatenate/
stack/vstack/hstack), .repeat, np.tile, .expand(...).contiguous(), .clone()/.copy().
The inputs stay alive while the result is written, so the peak is inputs + result."""
from __future__ import annotations

from ..values import ITEMSIZE, Arr, Ev, Seq, promote
from .common import NotHandled, as_int, items_of, kw, shape_arg
from .registry import func, method


def _parts(value):
    """(list of Arr, count) from a sequence argument, or None."""
    items = items_of(value)
    if items is not None:
        return (list(items) if all(isinstance(i, Arr) for i in items) else None)
    if isinstance(value, Seq) and isinstance(value.each, Arr) and value.count is not None:
        return [value.each] * value.count
    return None


@func("torch.cat", "torch.concat", "torch.concatenate", "torch.stack", "torch.vstack",
      "torch.hstack", "numpy.concatenate", "numpy.stack", "numpy.vstack", "numpy.hstack",
      "numpy.row_stack", "numpy.column_stack", fallback=True)
def concatenate(an, node, args, kwargs, inputs):
    parts = _parts(args[0] if args else kw(kwargs, "tensors", kw(kwargs, "arrays")))
    if not parts:
        raise NotHandled()
    first = parts[0]
    name = getattr(node.func, "attr", getattr(node.func, "id", "cat"))
    total = 0
    for part in parts:
        if part.numel is None:
            raise NotHandled()
        total += part.numel
    shape = None
    if all(p.shape is not None and len(p.shape) >= 1 for p in parts):
        if name == "stack":
            shape = (len(parts),) + first.shape
        elif name in ("cat", "concat", "concatenate", "vstack", "row_stack") \
                and len(set(p.shape[1:] for p in parts)) == 1:
            shape = (sum(p.shape[0] for p in parts),) + first.shape[1:]
        else:
            shape = (total,)
    dtype = first.dtype
    for part in parts[1:]:
        dtype = promote(dtype, part.dtype)
    result = first.but(shape=shape, dtype=dtype, strided=False, role="", density=None)
    return an.alloc(node, result, inputs, "concat",
                    f"{name} of {len(parts)} arrays (the inputs stay alive meanwhile)",
                    nbytes=total * ITEMSIZE.get(dtype, 4))


@method("arr", "repeat", fallback=True)
def repeat(an, node, arr, args, kwargs, inputs):
    if arr.shape is None:
        raise NotHandled()
    if arr.lib == "numpy":  # ndarray.repeat(repeats, axis=None): flattens unless axis
        times = as_int(args[0]) if args else None
        axis = as_int(args[1]) if len(args) > 1 else as_int(kw(kwargs, "axis", None))
        if times is None:
            raise NotHandled()
        if axis is None:
            shape = (arr.numel * times,)
        else:
            dims = list(arr.shape)
            dims[axis] *= times
            shape = tuple(dims)
    else:
        sizes = shape_arg(args)
        if sizes is None or len(sizes) < len(arr.shape):
            raise NotHandled()
        padded = (1,) * (len(sizes) - len(arr.shape)) + arr.shape
        shape = tuple(a * b for a, b in zip(padded, sizes))
    return an.alloc(node, arr.but(shape=shape, strided=False), inputs, "repeat",
                    ".repeat copies the data that many times")


@func("numpy.tile")
def tile(an, node, args, kwargs, inputs):
    arr = args[0] if args else None
    reps = shape_arg(args[1:2]) if len(args) > 1 else None
    if not isinstance(arr, Arr) or arr.shape is None or reps is None:
        raise NotHandled()
    n = max(len(reps), len(arr.shape))
    a = (1,) * (n - len(arr.shape)) + arr.shape
    r = (1,) * (n - len(reps)) + reps
    return an.alloc(node, arr.but(shape=tuple(x * y for x, y in zip(a, r)), strided=False),
                    inputs, "repeat", "np.tile copies the data that many times")


@method("arr", "expand", "broadcast_to", "expand_as", fallback=True)
def expand(an, node, arr, args, kwargs, inputs):
    if node.func.attr == "expand_as" and args and isinstance(args[0], Arr):
        sizes = args[0].shape
    else:
        sizes = shape_arg(args)
    if arr.shape is None or sizes is None or len(sizes) < len(arr.shape):
        return Ev(arr.but(shape=None, strided=True), an.merge_temps(inputs))
    padded = (1,) * (len(sizes) - len(arr.shape)) + arr.shape
    shape = tuple(old if new == -1 else new for old, new in zip(padded, sizes))
    return Ev(arr.but(shape=shape, strided=True), an.merge_temps(inputs))  # a free view


@func("torch.broadcast_to", "numpy.broadcast_to", fallback=True)
def broadcast_to(an, node, args, kwargs, inputs):
    arr = args[0] if args else None
    shape = shape_arg(args[1:2]) if len(args) > 1 else None
    if not isinstance(arr, Arr) or shape is None:
        raise NotHandled()
    return Ev(arr.but(shape=shape, strided=True), an.merge_temps(inputs))


@method("arr", "contiguous", "ascontiguousarray", fallback=True)
def contiguous(an, node, arr, args, kwargs, inputs):
    if not arr.strided:
        return Ev(arr, an.merge_temps(inputs))
    return an.alloc(node, arr.but(strided=False), inputs, "repeat",
                    ".contiguous() materialises the expanded/transposed view")


@func("numpy.ascontiguousarray", "numpy.copy", "torch.clone", fallback=True)
def contiguous_func(an, node, args, kwargs, inputs):
    arr = args[0] if args else None
    if not isinstance(arr, Arr):
        raise NotHandled()
    if node_name(node) == "ascontiguousarray" and not arr.strided:
        return Ev(arr, an.merge_temps(inputs))
    return an.alloc(node, arr.but(strided=False), inputs, "clone",
                    f"{node_name(node)} copies the array")


@method("arr", "clone", "copy", fallback=True)
def clone(an, node, arr, args, kwargs, inputs):
    return an.alloc(node, arr.but(strided=False), inputs, "clone",
                    f".{node.func.attr}() copies it")


def node_name(node) -> str:
    return getattr(node.func, "attr", getattr(node.func, "id", "?"))
