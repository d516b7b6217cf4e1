"""Values read from data where a size depends on them (predict/reads.py): `x.max()` of a
live integer array, and the node count PyG infers from an edge_index (max + 1)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..values import Arr, Ev, ReadInt
from .common import NotHandled
from .registry import func, method


def read_max(an, arr: Arr, what: str) -> Optional[ReadInt]:
    """`arr`'s largest value, read from the live array it stands for, or None."""
    value = an.resolver.read_max(arr)
    if value is None:
        return None
    return ReadInt(value, f"{what}.max() = {value:,}")


def node_count(an, edge_index: Arr, what: str) -> Tuple[Optional[int], str, bool]:
    """How many nodes PyG's maybe_num_nodes() would find: edge_index.max() + 1, read
    where possible (exact); else the graph's num_nodes or the randint bound (estimates).
    Returns (count, where it came from, exact)."""
    top = read_max(an, edge_index, what) if edge_index.numel else None
    if top is not None:
        return ReadInt(top + 1, top.note), top.note, True
    if edge_index.numel == 0:
        return 0, "an empty edge_index", True
    if edge_index.num_nodes is not None:
        return edge_index.num_nodes, "the graph's num_nodes", False
    if edge_index.high is not None:
        return edge_index.high, "the largest index randint can draw", False
    return None, "", False


@method("arr", "max", "amax")
def max_method(an, node, arr, args, kwargs, inputs):
    if args or kwargs:
        raise NotHandled()  # along a dim: an array (a tensor's via meta, an ndarray's rule)
    value = read_max(an, arr, an.snippet(node.func.value) or "the array")
    if value is None:
        raise NotHandled()
    for ev in inputs:
        an.free(ev)
    return Ev(value)


@func("torch.max", "torch.amax", "numpy.max", "numpy.amax")
def max_function(an, node, args, kwargs, inputs):
    if len(args) != 1 or kwargs or not isinstance(args[0], Arr):
        raise NotHandled()
    value = read_max(an, args[0], an.snippet(node.args[0]) or "the array")
    if value is None:
        raise NotHandled()
    for ev in inputs:
        an.free(ev)
    return Ev(value)


@method("read", "item", "long", "int", "tolist")
def read_scalar(an, node, value, args, kwargs, inputs):
    """x.max().item(): the value read, with its note."""
    for ev in inputs:
        an.free(ev)
    return Ev(value)
