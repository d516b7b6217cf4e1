"""Dense constructors: torch.rand/randn/zeros/ones/empty/full/randint/arange/eye/linspace,
the *_like family, numpy's equivalents and np.random.*, torch.tensor / np.array of an
array (a copy) and torch.from_numpy / as_tensor (shared memory). Default dtypes are the
libraries': torch float32 (the default dtype) and int64 for integer ranges, numpy float64."""
from __future__ import annotations

import math

from ..values import UNKNOWN, Arr, Ev, Seq
from .common import (NotHandled, as_int, device_of, dtype_of, kw, shape_arg,
                     torch_default_float)
from .registry import func

_DENSITY = {"zeros": 0.0, "ones": 1.0, "rand": 1.0, "randn": 1.0, "full": None,
            "empty": None}


def _new(an, node, arr, inputs, what):
    return an.alloc(node, arr, inputs, "dense_constructor", what)


@func("torch.rand", "torch.randn", "torch.zeros", "torch.ones", "torch.empty")
def torch_sized(an, node, args, kwargs, inputs):
    name = _name(node)
    shape = shape_arg(args) if args else shape_arg([kw(kwargs, "size")])
    if shape is None:
        raise NotHandled()
    dtype = dtype_of(kw(kwargs, "dtype"), torch_default_float())
    arr = Arr("torch", shape, dtype, device_of(kw(kwargs, "device")),
              density=_DENSITY.get(name), role="uniform01" if name == "rand" else "")
    return _new(an, node, arr, inputs, f"torch.{name}")


@func("torch.full")
def torch_full(an, node, args, kwargs, inputs):
    shape = shape_arg(args[:1] or [kw(kwargs, "size")])
    fill = args[1] if len(args) > 1 else kw(kwargs, "fill_value")
    if shape is None:
        raise NotHandled()
    default = ("bool" if isinstance(fill, bool) else "int64" if isinstance(fill, int)
               else torch_default_float())
    arr = Arr("torch", shape, dtype_of(kw(kwargs, "dtype"), default),
              device_of(kw(kwargs, "device")), density=None if fill == 0 else 1.0)
    return _new(an, node, arr, inputs, "torch.full")


@func("torch.randint")
def torch_randint(an, node, args, kwargs, inputs):
    low, high = 0, kw(kwargs, "high")
    sizes = [a for a in args if not isinstance(a, int) or isinstance(a, bool)]
    ints = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    if len(ints) == 2:
        low, high = ints
    elif len(ints) == 1:
        high = ints[0]
    shape = shape_arg(sizes[:1] or [kw(kwargs, "size")])
    if shape is None:
        raise NotHandled()
    density = None
    if isinstance(high, int) and high > low:
        density = (high - low - 1) / (high - low) if low <= 0 < high else 1.0
    arr = Arr("torch", shape, dtype_of(kw(kwargs, "dtype"), "int64"),
              device_of(kw(kwargs, "device")), density=density,
              high=high if isinstance(high, int) else None)
    return _new(an, node, arr, inputs, "torch.randint")


@func("torch.arange", "numpy.arange", fallback=True)
def arange(an, node, args, kwargs, inputs):
    lib = "torch" if _family(node, an) == "torch" else "numpy"
    bounds = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if len(bounds) != len(args) or not bounds:
        raise NotHandled()
    start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else \
        (bounds[0], bounds[1], bounds[2] if len(bounds) > 2 else 1)
    if step == 0:
        raise NotHandled()
    count = max(0, math.ceil((stop - start) / step))
    integral = all(isinstance(b, int) for b in bounds)
    default = "int64" if integral else (torch_default_float() if lib == "torch" else "float64")
    arr = Arr(lib, (count,), dtype_of(kw(kwargs, "dtype"), default),
              device_of(kw(kwargs, "device")))
    return _new(an, node, arr, inputs, f"{lib}.arange")


@func("torch.eye", "numpy.eye", "numpy.identity")
def eye(an, node, args, kwargs, inputs):
    lib = "torch" if _family(node, an) == "torch" else "numpy"
    n = as_int(args[0]) if args else as_int(kw(kwargs, "n"))
    m = as_int(args[1]) if len(args) > 1 and lib == "torch" else as_int(kw(kwargs, "m", n))
    if len(args) > 1 and lib == "numpy":
        m = as_int(args[1]) if args[1] is not None else n
    if n is None or m is None:
        raise NotHandled()
    default = torch_default_float() if lib == "torch" else "float64"
    arr = Arr(lib, (n, m), dtype_of(kw(kwargs, "dtype"), default),
              device_of(kw(kwargs, "device")), density=1 / max(1, m))
    return _new(an, node, arr, inputs, f"{lib}.eye")


@func("torch.linspace", "numpy.linspace", fallback=True)
def linspace(an, node, args, kwargs, inputs):
    lib = "torch" if _family(node, an) == "torch" else "numpy"
    steps = as_int(args[2]) if len(args) > 2 else as_int(kw(kwargs, "steps" if lib == "torch"
                                                            else "num", 50))
    if steps is None:
        raise NotHandled()
    default = torch_default_float() if lib == "torch" else "float64"
    arr = Arr(lib, (steps,), dtype_of(kw(kwargs, "dtype"), default),
              device_of(kw(kwargs, "device")))
    return _new(an, node, arr, inputs, f"{lib}.linspace")


@func("torch.zeros_like", "torch.ones_like", "torch.empty_like", "torch.rand_like",
      "torch.randn_like", "torch.full_like", "torch.randint_like", "numpy.zeros_like",
      "numpy.ones_like", "numpy.empty_like", "numpy.full_like", fallback=True)
def like(an, node, args, kwargs, inputs):
    source = args[0] if args else kw(kwargs, "input")
    if not isinstance(source, Arr):
        raise NotHandled()
    arr = source.but(dtype=dtype_of(kw(kwargs, "dtype"), source.dtype),
                     device=device_of(kw(kwargs, "device"), source.device),
                     strided=False, role="", density=None)
    return _new(an, node, arr, inputs, _name(node))


@func("numpy.zeros", "numpy.ones", "numpy.empty", "numpy.full")
def numpy_sized(an, node, args, kwargs, inputs):
    name = _name(node)
    shape = shape_arg(args[:1] or [kw(kwargs, "shape")])
    if shape is None:
        raise NotHandled()
    default = "float64"
    if name == "full":
        fill = args[1] if len(args) > 1 else kw(kwargs, "fill_value")
        default = "bool" if isinstance(fill, bool) else "int64" if isinstance(fill, int) \
            else "float64"
    position = 2 if name == "full" else 1
    dtype = args[position] if len(args) > position else kw(kwargs, "dtype")
    arr = Arr("numpy", shape, dtype_of(dtype, default), density=_DENSITY.get(name))
    return _new(an, node, arr, inputs, f"np.{name}")


@func("numpy.random.rand", "numpy.random.randn")
def numpy_random_dims(an, node, args, kwargs, inputs):
    shape = shape_arg(args) if args else ()
    if shape is None:
        raise NotHandled()
    name = _name(node)
    arr = Arr("numpy", shape, "float64", density=1.0,
              role="uniform01" if name == "rand" else "")
    return _new(an, node, arr, inputs, f"np.random.{name}")


@func("numpy.random.random", "numpy.random.random_sample", "numpy.random.standard_normal",
      "numpy.random.uniform", "numpy.random.normal", "numpy.random.randint",
      "numpy.random.binomial", "numpy.random.poisson", "numpy.random.exponential")
def numpy_random_size(an, node, args, kwargs, inputs):
    name = _name(node)
    positional = {"random": 0, "random_sample": 0, "standard_normal": 0, "uniform": 2,
                  "normal": 2, "randint": 2, "binomial": 2, "poisson": 1,
                  "exponential": 1}[name]
    size = args[positional] if len(args) > positional else kw(kwargs, "size", None)
    if size is None:
        return Ev(UNKNOWN)  # a scalar
    shape = shape_arg([size])
    if shape is None:
        raise NotHandled()
    default = "int64" if name in ("randint", "binomial", "poisson") else "float64"
    density, high = 1.0, None
    if name == "randint":
        low = args[0] if args else kw(kwargs, "low", 0)
        high = args[1] if len(args) > 1 else kw(kwargs, "high", None)
        if high is None:
            low, high = 0, low
        if isinstance(low, int) and isinstance(high, int) and high > low:
            density = (high - low - 1) / (high - low) if low <= 0 < high else 1.0
        else:
            density, high = None, None
    dtype = dtype_of(kw(kwargs, "dtype"), default)
    arr = Arr("numpy", shape, dtype, density=density, high=high,
              role="uniform01" if name in ("random", "random_sample") else "")
    return _new(an, node, arr, inputs, f"np.random.{name}")


@func("torch.tensor", "numpy.array")
def copy_of(an, node, args, kwargs, inputs):
    lib = "torch" if _family(node, an) == "torch" else "numpy"
    source = args[0] if args else kw(kwargs, "data", kw(kwargs, "object"))
    dtype_arg = args[1] if len(args) > 1 and lib == "numpy" else kw(kwargs, "dtype")
    if lib == "numpy" and isinstance(source, Seq) and isinstance(source.each, Arr) \
            and source.count and source.each.shape is not None and not source.items:
        each = source.each  # a list of equal arrays, stacked into a new one
        shape = (source.count,) + each.shape
        dtype = dtype_of(dtype_arg, each.dtype)
        if dtype is None:
            raise NotHandled()
        arr = Arr(lib, shape, dtype, "cpu", estimated=each.estimated)
        return an.alloc(node, arr, inputs, "concat",
                        f"np.array stacks {source.count:,} arrays into one")
    if not isinstance(source, Arr):
        literal = _literal(source)
        if literal is None:
            raise NotHandled()
        shape, kind = literal
        dtype = dtype_of(dtype_arg, _LITERAL_DTYPES[lib][kind])
        if dtype is None:
            raise NotHandled()
        device = device_of(kw(kwargs, "device"), "cpu") if lib == "torch" else "cpu"
        return an.alloc(node, Arr(lib, shape, dtype, device), inputs, "dense_constructor",
                        f"{'torch.tensor' if lib == 'torch' else 'np.array'} of a literal")
    arr = Arr(lib, source.shape, dtype_of(dtype_arg, source.dtype),
              device_of(kw(kwargs, "device"), source.device if lib == "torch" else "cpu"),
              density=source.density, high=source.high, num_nodes=source.num_nodes)
    kind = "device_copy" if arr.device != source.device else "copy"
    return an.alloc(node, arr, inputs, kind,
                    f"{'torch.tensor' if lib == 'torch' else 'np.array'} copies the array")


@func("torch.as_tensor", "numpy.asarray", "torch.from_numpy", "numpy.asanyarray")
def shared(an, node, args, kwargs, inputs):
    lib = "torch" if _family(node, an) == "torch" else "numpy"
    source = args[0] if args else kw(kwargs, "data", kw(kwargs, "a"))
    if not isinstance(source, Arr):
        raise NotHandled()
    dtype = dtype_of(args[1] if len(args) > 1 and lib == "numpy" else kw(kwargs, "dtype"),
                     source.dtype)
    device = device_of(kw(kwargs, "device"), source.device)
    arr = source.but(lib=lib, dtype=dtype, device=device)
    if dtype == source.dtype and device == source.device:
        return Ev(arr, an.merge_temps(inputs))  # shares the memory: no copy
    kind = "device_copy" if device != source.device else "dtype_copy"
    return an.alloc(node, arr.but(strided=False), inputs, kind, f"{lib} conversion")


# The dtype a literal of only bools / ints / floats / complex numbers gets by default.
_LITERAL_DTYPES = {"torch": ("bool", "int64", "float32", "complex64", None),
                   "numpy": ("bool", "int64", "float64", "complex128", "str")}
_MAX_LITERAL = 100_000


def _literal(value, depth: int = 0):
    """(shape, kind) of a nested list/tuple of numbers, kind 0 bool .. 3 complex; None
    for anything else (ragged, empty, not numbers, too big)."""
    if isinstance(value, bool):
        return (), 0
    if isinstance(value, (int, float, complex)):
        return (), 1 if isinstance(value, int) else 2 if isinstance(value, float) else 3
    if isinstance(value, str) and depth > 0:
        return (), 4  # NumPy's '<U...': its shape is known, its bytes are not sized
    items = value.items if isinstance(value, Seq) else value if isinstance(value, tuple) \
        else None
    if not items or depth > 8 or len(items) > _MAX_LITERAL:
        return None
    found = [_literal(item, depth + 1) for item in items]
    if None in found or len({shape for shape, _ in found}) != 1:
        return None
    kinds = {kind for _, kind in found}
    if 4 in kinds and len(kinds) > 1:
        return None  # strings mixed with numbers: NumPy makes them all strings, unsized
    return (len(items),) + found[0][0], max(kinds)


_LEGACY = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
           "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
           "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
           "BoolTensor": "bool"}


@func("torch.Tensor", *(f"torch.{name}" for name in _LEGACY))
def legacy_tensor(an, node, args, kwargs, inputs):
    """torch.Tensor(...) / torch.FloatTensor(...): an ndarray or tensor of its dtype is
    shared, an ndarray of another dtype copied; sizes make an uninitialised tensor."""
    name = _name(node)
    dtype = _LEGACY.get(name) or torch_default_float()
    if len(args) == 1 and isinstance(args[0], Arr) and not kwargs:
        source = args[0]
        if source.dtype == dtype:
            return Ev(source.but(lib="torch"), an.merge_temps(inputs))
        if source.lib == "torch":
            raise NotHandled()  # torch refuses another dtype
        arr = source.but(lib="torch", dtype=dtype, strided=False, role="")
        return an.alloc(node, arr, inputs, "dtype_copy",
                        f"torch.{name} copies the array as {dtype}")
    sizes = [as_int(a) for a in args]
    if args and None not in sizes and not isinstance(args[0], bool):
        arr = Arr("torch", tuple(sizes), dtype, "cpu")
        return an.alloc(node, arr, inputs, "dense_constructor", f"torch.{name}")
    literal = _literal(args[0]) if len(args) == 1 else None
    if literal is None or literal[1] == 4:
        raise NotHandled()
    return an.alloc(node, Arr("torch", literal[0], dtype, "cpu"), inputs,
                    "dense_constructor", f"torch.{name} of a literal")


def _name(node) -> str:
    func_node = node.func
    return getattr(func_node, "attr", getattr(func_node, "id", "?"))


def _family(node, an) -> str:
    """Which library a call's function came from (torch vs numpy for shared rules)."""
    func_node = node.func
    while hasattr(func_node, "value"):
        func_node = func_node.value
    name = getattr(func_node, "id", "")
    value = an.lookup(name) if name else None
    path = getattr(value, "path", "")
    return path.split(".", 1)[0]


@func("torch.device")
def torch_device(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    kind = args[0] if args else kw(kwargs, "type")
    index = as_int(args[1]) if len(args) > 1 else as_int(kw(kwargs, "index", None))
    if not isinstance(kind, str):
        raise NotHandled()
    from ..values import Device
    name = device_of(kind)
    if index is not None and ":" not in kind:
        name = f"{kind}:{index}"
    return Ev(Device(name))
