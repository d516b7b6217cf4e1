"""Sizes of torch tensors, nn.Modules and PyTorch Geometric graphs.

Only used when the user has imported torch. Bytes are those of the underlying
`untyped_storage()`, counted once per storage (pytorch_memlab multiplied the untyped
size by the element size again). Attributes are read through the C-level descriptors of
`torch._C.TensorBase`, under `DisableTorchFunction`, so a tensor subclass's Python
overrides and `__torch_function__` never run; `.grad` is read only on leaves (or where
`retain_grad()` was asked for), because on other tensors even reading it warns. Nothing
here starts CUDA: data_ptr() and nbytes() of a CUDA storage are host-side facts."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterable, Optional

from .safe import instance_dict, module_attr, type_name
from .tally import ScanState, Tally

_GETTERS = ("grad", "is_leaf", "retains_grad", "requires_grad", "grad_fn", "device",
            "dtype", "shape", "layout", "is_meta", "is_nested", "is_quantized")
_METHODS = ("untyped_storage", "_is_view", "_indices", "_values", "crow_indices",
            "col_indices", "ccol_indices", "row_indices", "values")


class TorchKit:
    """torch's own accessors, fetched once per scan from the imported torch module."""

    def __init__(self, torch: Any):
        base = torch._C.TensorBase if hasattr(torch._C, "TensorBase") else torch._C._TensorBase
        for name in _GETTERS:
            setattr(self, name, base.__dict__[name].__get__)
        for name in _METHODS:
            setattr(self, name, base.__dict__[name])
        self.Tensor = torch.Tensor
        self.strided = torch.strided
        self.compressed_rows = (torch.sparse_csr, torch.sparse_bsr)
        self.compressed_cols = (torch.sparse_csc, torch.sparse_bsc)
        self.sparse_coo = torch.sparse_coo
        disable = getattr(torch._C, "DisableTorchFunction", None)
        self.plain = disable if disable is not None else contextlib.nullcontext
        self._device_names: dict = {}
        self._dtype_names: dict = {}

    def device_name(self, device: Any) -> str:
        key = (device.type, device.index)
        name = self._device_names.get(key)
        if name is None:
            name = self._device_names[key] = str(device)
        return name

    def dtype_name(self, dtype: Any) -> str:
        name = self._dtype_names.get(dtype)  # torch dtypes are hashable singletons
        if name is None:
            name = self._dtype_names[dtype] = str(dtype)
        return name

    @staticmethod
    def load() -> Optional["TorchKit"]:
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        try:
            return TorchKit(torch)
        except Exception:  # torch half-imported (another thread) or too old
            return None


def tensor_parts(kit: TorchKit, tensor: Any) -> tuple:
    """The dense tensors whose storages hold this tensor's data."""
    layout = kit.layout(tensor)
    if layout is kit.strided:
        return (tensor,)
    if layout is kit.sparse_coo:
        return (kit._indices(tensor), kit._values(tensor))
    if layout in kit.compressed_rows:
        return (kit.crow_indices(tensor), kit.col_indices(tensor), kit.values(tensor))
    if layout in kit.compressed_cols:
        return (kit.ccol_indices(tensor), kit.row_indices(tensor), kit.values(tensor))
    raise TypeError(f"layout {layout}")


def measure_tensor(kit: TorchKit, tensor: Any, state: ScanState, tally: Tally,
                   as_grad: bool = False, with_grad: bool = True) -> None:
    try:
        device = kit.device(tensor)
        device_name = kit.device_name(device)
        if kit.is_meta(tensor):
            tally.note("A meta tensor: it has a shape but no memory.")
            return
        if kit.is_nested(tensor):
            tally.note("A nested tensor: counted by its storage.")
        tally.add_dtype(kit.dtype_name(kit.dtype(tensor)))
        for part in tensor_parts(kit, tensor):
            storage = kit.untyped_storage(part)
            nbytes, pointer = storage.nbytes(), storage.data_ptr()
            if nbytes and pointer:
                nbytes = state.claim(tally, (device.type, device.index, pointer), nbytes)
            tally.add_buffer(nbytes, device_name, grad=as_grad)
    except Exception as exc:
        tally.unmeasured = True
        tally.note(f"A tensor's storage could not be read ({type_name(type(exc))}); "
                   "tensor subclasses without a storage of their own are not measured.")
        return
    if as_grad or not with_grad:
        return
    try:
        if tally.grad_bytes is None:
            tally.grad_bytes = 0  # autograd fills .grad of leaves only (or retain_grad)
        if kit.is_leaf(tensor) or kit.retains_grad(tensor):
            grad = kit.grad(tensor)
            if grad is not None:
                measure_tensor(kit, grad, state, tally, as_grad=True)
    except Exception:
        tally.note("A tensor's .grad could not be read.")


def describe_tensor(kit: TorchKit, tensor: Any) -> tuple:
    """(shape, dtype, device) of a top-level tensor; None where unreadable."""
    device = kit.device_name(kit.device(tensor))
    dtype = kit.dtype_name(kit.dtype(tensor))
    try:
        return list(kit.shape(tensor)), dtype, device
    except Exception:  # a nested tensor has no single shape
        return None, dtype, device


def is_view(kit: TorchKit, tensor: Any) -> bool:
    try:
        return bool(kit._is_view(tensor))
    except Exception:
        return False


def module_children(module: Any) -> Iterable:
    """Parameters, buffers and submodules of an nn.Module, read from its registries
    (`_parameters`, `_buffers`, `_modules`) instead of calling `.parameters()`, which a
    subclass may override."""
    attributes = instance_dict(module) or {}
    children = []
    for registry in ("_parameters", "_buffers", "_modules"):
        found = attributes.get(registry)
        if type(found) is dict:
            children.extend(dict.values(found))
    return children


def pyg_data_children(data: Any) -> Iterable:
    """What a Data / HeteroData / Batch holds: its stores (HeteroData keeps dicts of
    them, opened here so that only the tensors count, not the dicts' overhead)."""
    children = []
    for value in (instance_dict(data) or {}).values():
        if type(value) is dict:
            children.extend(dict.values(value))
        else:
            children.append(value)
    return children


def pyg_store_children(store: Any) -> Iterable:
    """The attributes in a store's `_mapping`, and the tensors in the dicts a Batch's
    store keeps beside it (`_slice_dict`, `_inc_dict`)."""
    children = []
    for key, value in (instance_dict(store) or {}).items():
        if type(value) is dict and (key == "_mapping" or key in _BATCH_DICTS):
            children.extend(dict.values(value))
    return children


_BATCH_DICTS = ("_slice_dict", "_inc_dict")


def pyg_classes() -> tuple:
    return (module_attr("torch_geometric.data.data", "BaseData"),
            module_attr("torch_geometric.data.storage", "BaseStorage"))
