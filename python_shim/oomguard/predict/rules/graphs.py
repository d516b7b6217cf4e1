"""Graph containers beyond one Data: HeteroData stores (`data['paper'].x`), dataset
items and attributes (`dataset[0]`, `dataset.num_classes`), TensorDatasets, and models
(moved with `.to(device)`, made by calling an nn.Module subclass)."""
from __future__ import annotations

from typing import Any

from ..values import (UNKNOWN, Arr, Ev, Graph, GraphList, Hetero, Model, ModelClass,
                      ReadInt, TensorSet)
from .common import as_int, device_of, kw
from .reading import read_max
from .registry import method


def item_of(value: Any, key: Any) -> Any:
    """value[key] for a HeteroData (a store), a dataset (a graph) or a TensorDataset."""
    if isinstance(value, Hetero):
        if isinstance(key, (str, tuple)):
            store = value.store(key)
            return store if store is not None else UNKNOWN
        return UNKNOWN
    if isinstance(value, GraphList) and as_int(key) is not None:
        if value.count == 1 and value.whole is not None:
            return value.whole  # Planetoid, Reddit, ogbn-*: the one graph
        from .batching import batch_graph
        return batch_graph(value, 1 / value.count) if value.count else UNKNOWN
    if isinstance(value, TensorSet) and as_int(key) is not None:
        return tuple(a.but(shape=a.shape[1:]) if a.shape else a for a in value.arrays)
    return UNKNOWN


def num_classes(an, graph: Graph, what: str) -> Any:
    """PyG's Dataset.num_classes: y.max() + 1 for integer labels (read from the data)."""
    y = graph.tensor("y")
    if y is None or y.dtype.startswith("float"):
        return UNKNOWN
    top = read_max(an, y, f"{what}.y")
    return ReadInt(top + 1, top.note) if top is not None else UNKNOWN


@method("hetero", "to", "cuda", "cpu")
def hetero_to(an, node, data, args, kwargs, inputs):
    from .batching import target_device
    device = target_device(node.func.attr, args, kwargs, data.device)
    if device == data.device:
        return Ev(data, an.merge_temps(inputs))
    ev = an.alloc(node, Arr("torch", (data.nbytes,), "uint8", device, role="bytes"), inputs,
                  "device_copy", f"moving the whole HeteroData ({len(data.nodes)} node and "
                  f"{len(data.edges)} edge types) to {device}")
    ev.value = data.moved(device)
    return ev


@method("model", "to", "cuda", "cpu", "train", "eval", "float", "half", "double",
        "requires_grad_", "share_memory")
def model_same(an, node, model, args, kwargs, inputs):
    """A model's methods that return the model (parameters are not counted here)."""
    for ev in inputs:
        an.free(ev)
    name = node.func.attr
    if name in ("to", "cuda", "cpu"):
        from .batching import target_device
        device = target_device(name, args, kwargs, model.device)
        return Ev(Model(device, model.widths, model.guessed))
    return Ev(model)


def construct_model(an, node, model_class: ModelClass, args, kwargs, inputs) -> Ev:
    """Calling an nn.Module subclass: its layer widths are not known before it runs;
    the integers it is given (in, hidden, out channels) bound them."""
    for ev in inputs:
        an.free(ev)
    ints = [v for v in list(args) + [ev.value for ev in kwargs.values()]
            if isinstance(v, int) and not isinstance(v, bool) and 1 < v <= 1 << 20]
    return Ev(Model("cpu", (max(ints),) if ints else (), guessed=True))


__all__ = ["device_of", "kw"]
