"""The rule tables: library functions by key ("torch.randn"), methods by owner kind."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from ..values import (Arr, Graph, GraphList, Hetero, Loader, Model, ModelClass, NxGraph,
                      ReadInt, Seq, SparseMat, TensorSet)

FUNCS: Dict[str, Callable] = {}
METHODS: Dict[Tuple[str, str], Callable] = {}
# Hand rules that only stand in for PyTorch's own shape logic (a constructor's shape, a
# product's, a view's): for a torch call they run only where meta evaluation cannot (a
# session whose torch has not loaded its shape machinery yet), or gives up.
FALLBACK: set = set()


def func(*keys: str, fallback: bool = False):
    def register(handler):
        for key in keys:
            FUNCS[key] = handler
            if fallback:
                FALLBACK.add(key)
        return handler
    return register


def method(kind: str, *names: str, fallback: bool = False):
    def register(handler):
        for name in names:
            METHODS[(kind, name)] = handler
            if fallback:
                FALLBACK.add((kind, name))
        return handler
    return register


def owner_kind(value) -> str:
    for cls, kind in ((Arr, "arr"), (SparseMat, "sparse"), (Graph, "graph"),
                      (NxGraph, "nx"), (GraphList, "graphs"), (Loader, "loader"),
                      (Seq, "seq"), (tuple, "seq"), (Model, "model"), (ReadInt, "read"),
                      (Hetero, "hetero"), (TensorSet, "tensorset"),
                      (ModelClass, "modelclass")):
        if isinstance(value, cls):
            return kind
    return ""


_by_family: Tuple[int, Dict[str, tuple]] = (-1, {})  # (len(FUNCS) when made, the table)


def names_by_family() -> Dict[str, tuple]:
    """Rule names per library, for recognising directly imported functions. Made again
    only when a rule was registered since (rules register as their modules load)."""
    global _by_family
    made_at, table = _by_family
    if made_at != len(FUNCS):
        found: Dict[str, set] = {}
        for key in FUNCS:
            family, _, rest = key.partition(".")
            found.setdefault(family, set()).add(rest)
        table = {family: tuple(sorted(names)) for family, names in found.items()}
        _by_family = (len(FUNCS), table)
    return table
