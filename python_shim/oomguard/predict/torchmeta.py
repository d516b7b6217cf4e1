"""PyTorch's own shape logic: a torch call evaluated on `meta` tensors.

A recognised call of a torch function or Tensor method is run on meta tensors built from
the abstract values' shapes and dtypes, plus literals: torch itself says the result's
shape, dtype and whether it is a view. Nothing of the user's is passed in (only values
the predictor built: meta tensors, numbers, strings, dtypes), nothing real is allocated,
and CUDA is never touched (the abstract device is tracked beside the meta one).

Which callables qualify is read from torch's own op registry, once per process: the ATen
functions (`torch._C._VariableFunctions`, `torch._C._nn`, `_linalg`, `_fft`, `_special`),
the Python wrappers torch builds on them (`torch.functional`, `torch.nn.functional`) and
the Tensor methods that are native ops, minus in-place ops (a trailing `_`, or a schema
that writes to an argument), I/O, and what needs data or a device (`DENIED`). Seeding and
global-state setters are not ATen ops, so they never qualify; random ops on meta tensors
leave the generators alone.

Meta kernels written in Python import torch's symbolic-shape module (and sympy with it)
on first use. The predictor never imports anything, so meta evaluation waits until that
module is loaded (importing torch_geometric, an optimizer step or torch.compile load it);
until then the hand rules alone predict.

A call that PyTorch decomposes into other ops (CompositeImplicitAutograd: einsum, matmul
of broadcast batches, cdist, the Python wrappers) runs under a dispatch mode that sees
each ATen op of the decomposition and keeps the bytes of the meta storages alive at each
step, so that the transient peak inside the call (einsum's n^4 intermediate, the copies a
broadcast matmul makes) is PyTorch's own too."""
from __future__ import annotations

import sys
import types
import weakref
from typing import Any, Dict, Optional, Tuple

from ..sizes.torchlike import TorchKit, tensor_parts
from .resolve import device_name
from .values import ITEMSIZE, UNKNOWN, Arr, Device, DType, Ref, Seq, canonical_dtype

# torch's meta kernels import these lazily: meta evaluation runs only once they are loaded.
NEEDED_MODULES = ("torch.fx.experimental.symbolic_shapes", "torch._dynamo")
MAX_META_TENSORS = 64  # per call: a cat of 10,000 tensors is a hand rule's job

# Names that pass the registry test but must not be called: they read files, read or copy
# data (meta tensors have none), pin or move memory, or are answered elsewhere.
DENIED = frozenset({
    "from_file", "from_numpy", "frombuffer", "asarray", "as_tensor", "tensor",
    "item", "tolist", "numpy", "data_ptr", "storage", "untyped_storage",
    "cuda", "cpu", "to", "type", "pin_memory", "is_pinned", "record_stream", "share_memory_",
    "backward", "register_hook", "retain_grad", "requires_grad_", "set_", "apply_", "map_",
    "_local_scalar_dense", "equal", "allclose", "is_nonzero", "is_set_to", "nonzero_static",
})
# Wrappers written in Python on top of ATen ops, known to be pure.
FUNCTIONAL_MODULES = ("torch.functional", "torch.nn.functional")
EXPORTING_MODULES = ("torch", "torch.linalg", "torch.fft", "torch.special",
                     "torch.nn.functional")


class MetaTorch:
    """torch's registry, read once per process: what may be called, and how."""

    _instance: Optional["MetaTorch"] = None
    _torch: Any = None

    def __init__(self, torch: Any):
        self.torch = torch
        self.kit = TorchKit(torch)
        self.Tensor = torch.Tensor
        self.base = torch._C.TensorBase
        self.disable = torch._C.DisableTorchFunction
        self.no_grad = torch.no_grad
        self.empty = torch.empty
        self.empty_strided = torch.empty_strided
        self.size_type = torch.Size
        self.schemas = torch._C._jit_get_schemas_for_operator
        self.dispatch_depth = getattr(torch._C, "_len_torch_dispatch_stack", None)
        self._pure: Dict[str, bool] = {}
        self._composite: Dict[str, bool] = {}
        self.has_kernel = getattr(torch._C, "_dispatch_has_kernel_for_dispatch_key", None)
        self.PeakMode = _peak_mode_class()
        self._functions: Dict[str, Tuple[Any, Optional[str]]] = {}
        self._paths: Dict[int, str] = {}
        self._dtypes: Dict[str, Any] = {}
        for name in ITEMSIZE:
            dtype = torch.__dict__.get(name)
            if type(dtype) is torch.dtype:
                self._dtypes[name] = dtype
        self._read_functions()

    @classmethod
    def get(cls) -> Optional["MetaTorch"]:
        """The registry, or None where meta evaluation cannot run now: torch not
        imported, its shape machinery not loaded, or a dispatch mode active (user code)."""
        torch = sys.modules.get("torch")
        if torch is None or any(name not in sys.modules for name in NEEDED_MODULES):
            return None
        if cls._instance is None or cls._torch is not torch:
            try:
                cls._instance, cls._torch = MetaTorch(torch), torch
            except Exception:
                return None
        meta = cls._instance
        try:
            if meta.dispatch_depth is not None and meta.dispatch_depth() > 0:
                return None
        except Exception:
            return None
        return meta

    # -- what may be called ----------------------------------------------------------
    def _read_functions(self) -> None:
        torch = self.torch
        native: Dict[int, str] = {}  # id of each ATen binding -> its op name
        for holder in (torch._C._VariableFunctions, torch._C._nn, torch._C._linalg,
                       torch._C._fft, torch._C._special):
            for name in dir(holder):
                if not name.startswith("_"):
                    native[id(getattr(holder, name))] = name
        for module_name in EXPORTING_MODULES:
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for name, obj in module.__dict__.items():
                if name.startswith("_") or name.endswith("_") or name in DENIED:
                    continue
                op = native.get(id(obj))
                if op is not None and not op.endswith("_"):
                    self._functions[f"{module_name}.{name}"] = (obj, op)
                elif isinstance(obj, types.FunctionType) and \
                        getattr(obj, "__module__", None) in FUNCTIONAL_MODULES:
                    self._functions[f"{module_name}.{name}"] = (obj, None)
        self._paths = {id(obj): path for path, (obj, _) in self._functions.items()}

    def function(self, path: str) -> Optional[Any]:
        """The torch function for a dotted path the cell used, if it is a pure op."""
        found = self._functions.get(path)
        if found is None:
            return None
        obj, op = found
        return obj if op is None or self.pure(op) else None

    def path_of(self, obj: Any) -> Optional[str]:
        """The dotted path of a torch function bound to a name in the namespace."""
        return self._paths.get(id(obj))

    def method(self, name: str) -> Optional[Any]:
        """The Tensor method `name` if it is a native op that makes a new result."""
        if name.startswith("_") or name.endswith("_") or name in DENIED:
            return None
        found = self.base.__dict__.get(name)
        if found is None:
            found = self.Tensor.__dict__.get(name)
            if not isinstance(found, types.FunctionType) or \
                    getattr(found, "__module__", None) != "torch._tensor":
                return None
        elif not self.pure(name):
            return None
        return found

    def pure(self, name: str) -> bool:
        """An ATen op none of whose functional overloads writes to an argument."""
        known = self._pure.get(name)
        if known is None:
            try:
                schemas = self.schemas("aten::" + name)
                known = bool(schemas) and not any(
                    argument.alias_info is not None and argument.alias_info.is_write
                    and not getattr(argument, "is_out", False)
                    for schema in schemas if not _is_out_overload(schema)
                    for argument in schema.arguments)
            except Exception:
                known = False
            self._pure[name] = known
        return known

    def composite(self, func: Any, op: Optional[str]) -> bool:
        """Whether PyTorch decomposes the call into other ops (so that it may hold
        intermediates): a Python wrapper, or an ATen op with a CompositeImplicitAutograd
        kernel for some overload."""
        if self.PeakMode is None or self.has_kernel is None:
            return False
        if op is None:
            return isinstance(func, types.FunctionType)
        known = self._composite.get(op)
        if known is None:
            try:
                known = any(
                    self.has_kernel(f"aten::{op}" + (f".{schema.overload_name}"
                                                     if schema.overload_name else ""),
                                    "CompositeImplicitAutograd")
                    for schema in self.schemas("aten::" + op))
            except Exception:
                known = False
            self._composite[op] = known
        return known

    def op_of(self, func: Any) -> Optional[str]:
        """The ATen op name of a function from the allow-list or a Tensor method."""
        path = self._paths.get(id(func))
        if path is not None:
            return self._functions[path][1]
        if isinstance(func, types.FunctionType):
            return None
        return getattr(func, "__name__", None)

    # -- abstract values <-> meta tensors ------------------------------------------
    def to_meta(self, value: Any, state: "Call") -> Any:
        if isinstance(value, Arr):
            if value.lib != "torch" or value.shape is None:
                raise Unconvertible()
            return state.tensor(self, value)
        if value is None or isinstance(value, (bool, int, float, str, complex)):
            return value
        if isinstance(value, (slice, type(Ellipsis))):
            return value
        if isinstance(value, DType) or (isinstance(value, Ref) and value.family == "torch"):
            name = value.name if isinstance(value, DType) else \
                canonical_dtype(value.path.rsplit(".", 1)[-1])
            dtype = self._dtypes.get(name or "")
            if dtype is None:
                raise Unconvertible()
            return dtype
        if isinstance(value, Device):
            state.device = value.name
            return "meta"
        if isinstance(value, tuple):
            return tuple(self.to_meta(v, state) for v in value)
        if isinstance(value, Seq) and value.items is not None:
            return [self.to_meta(v, state) for v in value.items]
        raise Unconvertible()

    def dtype_name(self, dtype: Any) -> Optional[str]:
        return canonical_dtype(str(dtype))


class Unconvertible(Exception):
    """An argument the predictor cannot stand in for: the call is not evaluated."""


def _is_out_overload(schema) -> bool:
    name = schema.overload_name
    return name == "out" or name.endswith("_out") or name.startswith("out_") or \
        any(getattr(argument, "is_out", False) for argument in schema.arguments)


class Call:
    """One evaluation: the meta tensors made for it and what they stand for."""

    def __init__(self):
        self.inputs: Dict[int, Tuple[Any, Arr]] = {}  # id(meta) -> (meta, abstract)
        self.by_value: Dict[int, Any] = {}             # id(Arr) -> its meta tensor
        self.device: Optional[str] = None              # an explicit device= argument

    def tensor(self, meta: MetaTorch, arr: Arr) -> Any:
        made = self.by_value.get(id(arr))
        if made is not None:
            return made
        if len(self.inputs) >= MAX_META_TENSORS:
            raise Unconvertible()
        dtype = meta._dtypes.get(arr.dtype)
        if dtype is None:
            raise Unconvertible()
        if arr.strides is not None and len(arr.strides) == len(arr.shape):
            made = meta.empty_strided(arr.shape, arr.strides, dtype=dtype, device="meta")
        else:
            made = meta.empty(arr.shape, dtype=dtype, device="meta")
        self.inputs[id(made)] = (made, arr)
        self.by_value[id(arr)] = made
        return made


class Result:
    """What a meta call made: the abstract value, and the bytes of new storage."""

    def __init__(self, value: Any, nbytes: int, biggest: Optional[Arr]):
        self.value = value
        self.nbytes = nbytes
        self.transient = 0  # bytes held inside the call beyond its results (composites)
        self.biggest = biggest  # the largest new array, for the finding's shape


def evaluate(meta: MetaTorch, func: Any, args: list, kwargs: Dict[str, Any],
             self_value: Optional[Arr] = None) -> Optional[Result]:
    """Call `func` on meta stand-ins for the abstract `args`/`kwargs` (and `self_value`
    for a method); None when an argument has no stand-in or torch refuses."""
    call = Call()
    try:
        meta_args = [meta.to_meta(a, call) for a in args]
        meta_kwargs = {}
        for key, value in kwargs.items():
            if key == "out":
                return None  # writes into an existing tensor: nothing new
            if key in ("pin_memory", "requires_grad", "memory_format") and \
                    isinstance(value, bool):
                continue  # pinned host memory is still host memory; no autograd here
            if key == "device":
                device = device_name(value)
                if device is None:
                    return None
                call.device = device
                meta_kwargs[key] = "meta"
                continue
            meta_kwargs[key] = meta.to_meta(value, call)
        if self_value is not None:
            meta_args.insert(0, meta.to_meta(self_value, call))
    except Unconvertible:
        return None
    device = call.device or _input_device(call)
    if call.device is None and not call.inputs and _takes_device(meta, func):
        meta_kwargs["device"] = "meta"  # a factory: never on the default device
    mode = meta.PeakMode(call) if meta.composite(func, meta.op_of(func)) else None
    try:
        with meta.disable(), meta.no_grad():
            if mode is None:
                out = func(*meta_args, **meta_kwargs)
            else:
                with mode:
                    out = func(*meta_args, **meta_kwargs)
    except Exception:
        return None
    finally:
        if mode is not None:
            mode.close()
    result = _abstract(meta, out, call, device)
    if result is not None and mode is not None:
        result.transient = max(0, mode.peak - result.nbytes)
    return result


def _peak_mode_class() -> Any:
    """A TorchDispatchMode that follows the meta storages a decomposed call makes; None
    where torch's dispatch-mode machinery is not loaded (it is, with torch itself)."""
    dispatch = sys.modules.get("torch.utils._python_dispatch")
    pytree = sys.modules.get("torch.utils._pytree")
    if dispatch is None or pytree is None:
        return None
    flatten = pytree.tree_flatten

    class PeakMode(dispatch.TorchDispatchMode):
        """Bytes of the meta storages alive at each ATen op of one call, and their peak.
        A storage counts from the op that made it until it is freed (a weakref on the
        storage object, which PyTorch keeps as long as the storage lives)."""

        def __init__(self, call: "Call"):
            super().__init__()
            self.keys = set()
            for made, _ in call.inputs.values():
                try:
                    self.keys.add(made.untyped_storage()._cdata)
                except Exception:
                    pass
            self.live = 0
            self.peak = 0
            self.finalizers = []

        def _gone(self, key: int, nbytes: int) -> None:
            self.live -= nbytes
            self.keys.discard(key)

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for value in flatten(out)[0]:
                if type(value).__name__ != "Tensor" and not hasattr(value, "untyped_storage"):
                    continue
                try:
                    storage = value.untyped_storage()
                    key = storage._cdata
                except Exception:
                    continue
                if key in self.keys:
                    continue
                nbytes = int(storage.nbytes())
                self.keys.add(key)
                self.live += nbytes
                self.finalizers.append(weakref.finalize(storage, self._gone, key, nbytes))
            if self.live > self.peak:
                self.peak = self.live
            return out

        def close(self) -> None:
            for finalizer in self.finalizers:
                finalizer.detach()
            self.finalizers = []

    return PeakMode


def _abstract(meta: MetaTorch, out: Any, call: Call, device: str) -> Optional[Result]:
    counted: Dict[int, bool] = {}
    total = [0]
    biggest: list = [None]

    def convert(value: Any, depth: int = 0) -> Any:
        if isinstance(value, meta.Tensor):
            return tensor(value)
        if type(value) is meta.size_type:
            return tuple(int(d) for d in value)
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, (tuple, list)) and depth < 2 and len(value) <= 1000:
            items = tuple(convert(v, depth + 1) for v in value)
            return items if isinstance(value, tuple) else Seq(len(items), items)
        return UNKNOWN

    def tensor(t: Any) -> Any:
        if str(t.device) != "meta":
            raise Unconvertible()  # never expected: every input and factory was meta
        known = call.inputs.get(id(t))
        if known is not None and known[0] is t:
            return known[1]  # the input itself (x.to(x.dtype), x.contiguous())
        dtype = meta.dtype_name(t.dtype)
        if dtype is None:
            return UNKNOWN
        if t.layout is not meta.torch.strided:  # sparse: its index and value tensors
            total[0] += sum(int(p.numel()) * int(p.element_size())
                            for p in tensor_parts(meta.kit, t))
            return UNKNOWN
        shape = tuple(int(d) for d in t.shape)
        strides = tuple(int(s) for s in t.stride()) if t.layout is meta.torch.strided else None
        contiguous = bool(t.is_contiguous())
        estimated = any(arr.estimated for _, arr in call.inputs.values())
        arr = Arr("torch", shape, dtype, device, strided=not contiguous,
                  strides=None if contiguous else strides, estimated=estimated)
        owner = t._base if t._is_view() and t._base is not None else t
        if id(owner) in call.inputs and call.inputs[id(owner)][0] is owner:
            return arr  # a view of an input: no new memory
        if id(owner) not in counted:
            counted[id(owner)] = True
            try:
                nbytes = int(owner.untyped_storage().nbytes())
            except Exception:
                nbytes = (arr.numel or 0) * ITEMSIZE.get(dtype, 4)
            total[0] += nbytes
            if biggest[0] is None or (arr.nbytes or 0) > (biggest[0].nbytes or 0):
                biggest[0] = arr
        return arr

    try:
        value = convert(out)
    except Exception:
        return None
    return Result(value, total[0], biggest[0])


def _input_device(call: Call) -> str:
    """Where the result lives: with its tensor inputs (torch requires one device, but
    lets a CPU scalar join a CUDA tensor)."""
    devices = [arr.device for _, arr in call.inputs.values()]
    for device in devices:
        if device != "cpu":
            return device
    return "cpu"


def _takes_device(meta: MetaTorch, func: Any) -> bool:
    name = getattr(func, "__name__", "")
    if not name or isinstance(func, types.FunctionType):
        return False
    try:
        return any(argument.name == "device" for schema in meta.schemas("aten::" + name)
                   for argument in schema.arguments)
    except Exception:
        return False
