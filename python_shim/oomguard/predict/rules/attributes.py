"""Attribute reads on abstract values: shapes, dtypes, devices, free views (.T), a
graph's tensors and counts, and methods (bound here, applied by the call rules)."""
from __future__ import annotations

from ..values import (UNKNOWN, Arr, Bound, Device, DType, Ev, Graph, GraphList, Hetero,
                      Loader, Model, ModelClass, NxGraph, ReadInt, Record, Ref, Seq,
                      SparseMat, TensorSet)
from ..values import ITEMSIZE

READ_SCALAR_METHODS = ("item", "long", "int", "tolist")
_METHOD_OWNERS = (Arr, SparseMat, Graph, NxGraph, GraphList, Loader, Seq, tuple, Model,
                  Hetero, TensorSet, ModelClass)


def attribute(an, node, base: Ev) -> Ev:
    value, name = base.value, node.attr
    if isinstance(value, Ref):
        path = f"{value.path}.{name}"
        return Ev(None if path == "numpy.newaxis" else Ref(path))
    if isinstance(value, Arr):
        return _array_attribute(an, node, base, value, name)
    if isinstance(value, SparseMat):
        if name == "shape":
            return Ev(value.shape if value.shape is not None else UNKNOWN, base.temp)
        if name == "nnz":
            return Ev(value.nnz if value.nnz is not None else UNKNOWN)
        if name == "dtype":
            return Ev(DType(value.dtype))
        if name == "A":
            from .adjacency import _densify
            return _densify(an, node, value, [base], "sparse .A: every zero stored explicitly")
        if name == "T":
            shape = tuple(reversed(value.shape)) if value.shape else None
            return Ev(SparseMat(shape, value.dtype, value.nnz), base.temp)
    if isinstance(value, Graph):
        arr = value.tensor(name)
        if arr is not None:
            return Ev(arr, base.temp)
        if name == "num_nodes":
            return Ev(value.num_nodes if value.num_nodes is not None else UNKNOWN)
        if name == "num_edges":
            return Ev(value.num_edges if value.num_edges is not None else UNKNOWN)
        if name in ("num_node_features", "num_features"):
            x = value.tensor("x")
            return Ev(x.shape[-1] if x is not None and x.shape else UNKNOWN)
    if isinstance(value, Hetero):
        if name in ("num_nodes", "num_edges"):
            count = getattr(value, name)
            return Ev(count if count is not None else UNKNOWN)
        if name == "node_types":
            return Ev(Seq(len(value.nodes), tuple(k for k, _ in value.nodes)))
        if name == "edge_types":
            return Ev(Seq(len(value.edges), tuple(k for k, _ in value.edges)))
    if isinstance(value, GraphList):
        if name in ("num_node_features", "num_features"):
            return Ev(value.feature_dim if value.feature_dim is not None else UNKNOWN)
        if name in ("data", "_data") and value.whole is not None:
            return Ev(value.whole)
        if name == "num_classes" and isinstance(value.whole, Graph):
            from .graphs import num_classes
            return Ev(num_classes(an, value.whole, an.snippet(node.value)))
        if isinstance(value.whole, Graph) and value.whole.tensor(name) is not None:
            return Ev(value.whole.tensor(name))  # PyG forwards dataset.x to its data
    if isinstance(value, TensorSet) and name == "tensors":
        return Ev(value.arrays)
    if isinstance(value, Record):
        return Ev(value.get(name))
    if isinstance(value, Loader) and name == "batch_size":
        return Ev(value.batch_size if value.batch_size is not None else UNKNOWN)
    if isinstance(value, ReadInt) and name in READ_SCALAR_METHODS:
        return Ev(Bound(value, name))  # edge_index.max().item(): the value read
    if isinstance(value, Device) and name in ("type", "index"):
        kind, _, index = value.name.partition(":")
        return Ev(kind if name == "type" else (int(index) if index.isdigit() else None))
    if isinstance(value, _METHOD_OWNERS):
        return Ev(Bound(value, name), base.temp)
    an.free(base)
    return Ev(UNKNOWN)


def _array_attribute(an, node, base: Ev, arr: Arr, name: str) -> Ev:
    if name in ("T", "mT", "H", "mH"):
        shape = arr.shape
        if shape is not None and len(shape) >= 2:
            shape = shape[:-2] + (shape[-1], shape[-2]) if name.startswith("m") or \
                len(shape) == 2 else tuple(reversed(shape))
        return Ev(arr.but(shape=shape, strided=True), base.temp)  # a free view
    if name in ("data", "real"):
        return Ev(arr, base.temp)
    facts = {
        "shape": arr.shape,
        "ndim": len(arr.shape) if arr.shape is not None else None,
        "dtype": DType(arr.dtype),
        "device": Device(arr.device),
        "itemsize": ITEMSIZE.get(arr.dtype),
        "nbytes": arr.nbytes,
        "is_cuda": arr.device.startswith("cuda"),
    }
    if arr.lib == "numpy":
        facts["size"] = arr.numel
    if name in facts:
        an.free(base)
        fact = facts[name]
        return Ev(UNKNOWN if fact is None else fact)
    return Ev(Bound(arr, name), base.temp)
