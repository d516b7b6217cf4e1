"""Dispatch from AST nodes to the rule families (one module each)."""
from __future__ import annotations

from ..values import Arr, Bound, Model, ModelClass, Ref
from . import (adjacency, batching, combine, composite, constructors,  # noqa: F401
               convert, graphs, meta, pairwise, python, reading)  # (each registers rules)
from .advice import suggestion_for
from .common import NotHandled
from .registry import FALLBACK, FUNCS, METHODS, names_by_family, owner_kind
from .python import element_of, listcomp, repeat_seq
from .pairwise import array_binop, compare, elided_unary, subscript
from .attributes import attribute

FAMILIES = ("torch", "numpy", "scipy", "networkx", "torch_geometric", "copy", "math",
            "builtins")

__all__ = ["attribute", "array_binop", "elided_unary", "call", "compare", "default_suggestion",
           "element_of", "known_family", "listcomp", "names_by_family", "NotHandled",
           "repeat_seq", "subscript"]


def known_family(path: str) -> bool:
    return path.split(".", 1)[0] in FAMILIES[:-1]


def default_suggestion(kind: str, arr) -> str:
    return suggestion_for(kind, getattr(arr, "dtype", None))


def call(an, node, func, args, kwargs, inputs):
    """The Ev of a call, or None when no rule knows it (inputs are then freed). A torch
    call no specific rule handles (or whose rule gave up) is evaluated on meta tensors."""
    if isinstance(func, Ref):
        if func.family == "numpy":  # every ufunc, by NumPy's own type resolution
            found = pairwise.numpy_ufunc(an, node, func.path, args, kwargs, inputs)
            if found is not None:
                return found
        tried = False
        for key in func.keys():
            handler = FUNCS.get(key)
            if handler is not None:
                if func.family == "torch" and key in FALLBACK:
                    found = meta.call_function(an, node, func.path, args, kwargs, inputs)
                    if found is not None:
                        return found
                    tried = True
                try:
                    return handler(an, node, args, kwargs, inputs)
                except NotHandled:
                    break
        if func.family == "torch" and not tried:
            return meta.call_function(an, node, func.path, args, kwargs, inputs)
        return None
    if isinstance(func, Bound):
        owner = func.owner
        key = (owner_kind(owner), func.name)
        handler = METHODS.get(key)
        torch_arr = isinstance(owner, Arr) and owner.lib == "torch"
        tried = False
        if handler is not None:
            if torch_arr and key in FALLBACK:
                found = meta.call_method(an, node, owner, func.name, args, kwargs, inputs)
                if found is not None:
                    return found
                tried = True
            try:
                return handler(an, node, owner, args, kwargs, inputs)
            except NotHandled:
                pass
        if torch_arr and not tried:
            return meta.call_method(an, node, owner, func.name, args, kwargs, inputs)
        if isinstance(owner, Arr) and owner.lib == "numpy":  # x.conj(), x.sqrt-like ufuncs
            ufunc = pairwise.UFUNC_METHODS.get(func.name)
            if ufunc is not None:
                return pairwise.numpy_ufunc(an, node, "numpy." + ufunc, [owner] + list(args),
                                            kwargs, inputs)
        return None
    if isinstance(func, Model):
        return batching.model_call(an, node, func, args, kwargs, inputs)
    if isinstance(func, ModelClass):
        return graphs.construct_model(an, node, func, args, kwargs, inputs)
    return None
