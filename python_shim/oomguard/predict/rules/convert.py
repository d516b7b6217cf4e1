"""Conversions and views of one array: .float()/.double()/.half()/.long()/.int()/.bool(),
.to(dtype/device), .type(), .astype(), .cuda()/.cpu(), .numpy(), and the free views
(.T, .t(), .view/.reshape, .permute/.transpose, .unsqueeze/.squeeze, .detach, .expand).
A conversion copies; the original stays alive until the statement is done with it, so
`torch.randint(0, 2, (n, n)).float()` peaks at int64 + float32 = 12 bytes per element."""
from __future__ import annotations

from ..values import UNKNOWN, Arr, Device, DType, Ev
from .common import NotHandled, as_int, device_of, dtype_of, kw, shape_arg, items_of
from .registry import method

_TO_DTYPE = {"float": "float32", "double": "float64", "half": "float16",
             "bfloat16": "bfloat16", "long": "int64", "int": "int32", "short": "int16",
             "bool": "bool", "byte": "uint8", "char": "int8"}


def convert(an, node, arr: Arr, dtype: str, device: str, inputs) -> Ev:
    if dtype == arr.dtype and device == arr.device:
        return Ev(arr, an.merge_temps(inputs))  # torch returns the tensor itself
    result = arr.but(dtype=dtype, device=device, strided=False)
    if device != arr.device:
        return an.alloc(node, result, inputs, "device_copy",
                        f"copying to {device}" + (f" as {dtype}" if dtype != arr.dtype else ""))
    return an.alloc(node, result, inputs, "dtype_copy",
                    f"converting {arr.dtype} to {dtype} (a copy; both alive at once)")


@method("arr", *_TO_DTYPE)
def to_named_dtype(an, node, arr, args, kwargs, inputs):
    return convert(an, node, arr, _TO_DTYPE[node.func.attr], arr.device, inputs)


@method("arr", "to", "type")
def to(an, node, arr, args, kwargs, inputs):
    dtype, device = arr.dtype, arr.device
    for value in list(args) + [kw(kwargs, "dtype", None), kw(kwargs, "device", None)]:
        if isinstance(value, DType) or (dtype_of(value, None) and not isinstance(value, str)):
            dtype = dtype_of(value, dtype)
        elif isinstance(value, str) and dtype_of(value, None) and node.func.attr == "type":
            dtype = dtype_of(value, dtype)
        elif isinstance(value, (Device, str)) or (isinstance(value, int)
                                                  and not isinstance(value, bool)):
            device = device_of(value, device)
        elif isinstance(value, Arr):
            dtype, device = value.dtype, value.device
        elif value is UNKNOWN:
            raise NotHandled()
    return convert(an, node, arr, dtype, device, inputs)


@method("arr", "astype")
def astype(an, node, arr, args, kwargs, inputs):
    dtype = dtype_of(args[0] if args else kw(kwargs, "dtype"), None)
    if dtype is None:
        raise NotHandled()
    if kw(kwargs, "copy", True) is False and dtype == arr.dtype:
        return Ev(arr, an.merge_temps(inputs))
    return an.alloc(node, arr.but(dtype=dtype, strided=False), inputs, "dtype_copy",
                    f"astype({dtype}) copies the array")


@method("arr", "cuda")
def cuda(an, node, arr, args, kwargs, inputs):
    target = args[0] if args else kw(kwargs, "device", 0)
    return convert(an, node, arr, arr.dtype, device_of(target, "cuda:0"), inputs)


@method("arr", "cpu")
def cpu(an, node, arr, args, kwargs, inputs):
    return convert(an, node, arr, arr.dtype, "cpu", inputs)


@method("arr", "numpy")
def numpy(an, node, arr, args, kwargs, inputs):
    if arr.device != "cpu":
        raise NotHandled()  # torch refuses: .cpu() first
    return Ev(arr.but(lib="numpy"), an.merge_temps(inputs))


@method("arr", "detach", "requires_grad_", "contiguous_", "view_as", "data")
def same(an, node, arr, args, kwargs, inputs):
    return Ev(arr, an.merge_temps(inputs))


@method("arr", "t", "transpose", "permute", "swapaxes", "movedim", fallback=True)
def transposed(an, node, arr, args, kwargs, inputs):
    shape = arr.shape
    if shape is not None and node.func.attr in ("t",) or (shape and len(shape) == 2):
        shape = tuple(reversed(shape)) if shape is not None else None
    elif shape is not None and node.func.attr == "permute":
        order = [as_int(a) for a in (items_of(args[0]) if len(args) == 1 and items_of(args[0])
                                     else args)]
        shape = tuple(shape[i] for i in order) if None not in order and \
            sorted(order) == list(range(len(shape))) else None
    elif shape is not None and len(args) >= 2:
        i, j = as_int(args[0]), as_int(args[1])
        if i is None or j is None or not (-len(shape) <= i < len(shape)
                                          and -len(shape) <= j < len(shape)):
            shape = None
        else:
            dims = list(shape)
            dims[i], dims[j] = dims[j], dims[i]
            shape = tuple(dims)
    return Ev(arr.but(shape=shape, strided=True), an.merge_temps(inputs))


@method("arr", "view", "reshape", "flatten", "ravel", "squeeze", "unsqueeze", fallback=True)
def reshaped(an, node, arr, args, kwargs, inputs):
    name, shape = node.func.attr, arr.shape
    if shape is not None:
        if name in ("flatten", "ravel") and not args:
            shape = (arr.numel,)
        elif name in ("view", "reshape"):
            shape = infer_shape(shape_arg(args) if args else None, arr.numel)
        elif name == "unsqueeze" and args and as_int(args[0]) is not None:
            d = as_int(args[0])
            dims = list(shape)
            dims.insert(d if d >= 0 else len(dims) + d + 1, 1)
            shape = tuple(dims)
        elif name == "squeeze" and not args:
            shape = tuple(d for d in shape if d != 1)
        else:
            shape = None
    # reshape of a transposed or expanded view copies: count it like contiguous()
    if arr.strided and name in ("reshape", "flatten", "ravel"):
        return an.alloc(node, arr.but(shape=shape, strided=False), inputs, "repeat",
                        f".{name}() of a strided view copies it")
    return Ev(arr.but(shape=shape), an.merge_temps(inputs))


def infer_shape(shape, numel):
    if shape is None or numel is None:
        return None
    known = 1
    unknown = [i for i, d in enumerate(shape) if d == -1]
    for d in shape:
        if d != -1:
            known *= d
    if len(unknown) == 1 and known:
        dims = list(shape)
        dims[unknown[0]] = numel // known
        return tuple(dims)
    return shape if not unknown else None
