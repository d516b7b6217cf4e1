"""Dispatch from AST nodes to the rule families (one module each)."""
from __future__ import annotations

from ..values import UNKNOWN, Bound, Ev, Model, Ref
from . import (adjacency, batching, combine, constructors, convert,  # noqa: F401 (registers)
               pairwise, python)
from .advice import suggestion_for
from .common import NotHandled
from .registry import FUNCS, METHODS, names_by_family, owner_kind
from .python import element_of, listcomp, repeat_seq
from .pairwise import array_binop, compare, subscript
from .attributes import attribute

FAMILIES = ("torch", "numpy", "scipy", "networkx", "torch_geometric", "builtins")

__all__ = ["attribute", "array_binop", "call", "compare", "default_suggestion",
           "element_of", "known_family", "listcomp", "names_by_family", "NotHandled",
           "repeat_seq", "subscript"]


def known_family(path: str) -> bool:
    return path.split(".", 1)[0] in FAMILIES[:-1]


def default_suggestion(kind: str, arr) -> str:
    return suggestion_for(kind, getattr(arr, "dtype", None))


def call(an, node, func, args, kwargs, inputs):
    """The Ev of a call, or None when no rule knows it (inputs are then freed)."""
    if isinstance(func, Ref):
        for key in func.keys():
            handler = FUNCS.get(key)
            if handler is not None:
                return handler(an, node, args, kwargs, inputs)
        return None
    if isinstance(func, Bound):
        handler = METHODS.get((owner_kind(func.owner), func.name))
        if handler is not None:
            return handler(an, node, func.owner, args, kwargs, inputs)
        return None
    if isinstance(func, Model) or func is UNKNOWN:
        return batching.model_call(an, node, args, kwargs, inputs)
    return None
