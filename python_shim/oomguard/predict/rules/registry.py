"""The rule tables: library functions by key ("torch.randn"), methods by owner kind."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from ..values import (Arr, Graph, GraphList, Hetero, Loader, Model, ModelClass, NxGraph,
                      ReadInt, Seq, SparseMat, TensorSet)

FUNCS: Dict[str, Callable] = {}
METHODS: Dict[Tuple[str, str], Callable] = {}


def func(*keys: str):
    def register(handler):
        for key in keys:
            FUNCS[key] = handler
        return handler
    return register


def method(kind: str, *names: str):
    def register(handler):
        for name in names:
            METHODS[(kind, name)] = handler
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


def names_by_family() -> Dict[str, tuple]:
    """Rule names per library, for recognising directly imported functions."""
    found: Dict[str, set] = {}
    for key in FUNCS:
        family, _, rest = key.partition(".")
        found.setdefault(family, set()).add(rest)
    return {family: tuple(sorted(names)) for family, names in found.items()}
