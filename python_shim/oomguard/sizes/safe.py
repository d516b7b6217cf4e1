"""Facts about user objects read without running user code.

A namespace scan must not hang or raise, and a property or `__getattr__` written in
Python can do both (and a hang cannot be interrupted). So nothing here calls `getattr`,
`isinstance` (which reads `__class__`), `len` or `hash` on a user object or its type:
types are read through the C-level descriptors of `type` itself, subclass tests go
through `type.__subclasscheck__` (which walks the C-level MRO), and a size is only asked
of a type whose `__sizeof__` is implemented in C."""
from __future__ import annotations

import sys
import types
from typing import Any, Optional

from ..protocol import MAX_TEXT, clip  # noqa: F401  (re-exported: the protocol's limit)

_TYPE_MODULE = type.__dict__["__module__"]
_TYPE_QUALNAME = type.__dict__["__qualname__"]
_TYPE_MRO = type.__dict__["__mro__"]
_TYPE_DICT = type.__dict__["__dict__"]
_SUBCLASS_CHECK = type.__dict__["__subclasscheck__"]

# What sys.getsizeof adds for objects tracked by the garbage collector.
GC_HEAD = sys.getsizeof([]) - [].__sizeof__()

# How a method implemented in C looks when read from a type's __dict__.
C_LEVEL = (types.WrapperDescriptorType, types.MethodDescriptorType,
           types.BuiltinFunctionType, types.ClassMethodDescriptorType)

MISSING = object()


def type_name(tp: type) -> str:
    """`module.QualName` of a type, read from the type (a metaclass cannot intervene)."""
    try:
        qualname = _TYPE_QUALNAME.__get__(tp)
    except Exception:
        qualname = None
    if type(qualname) is not str:
        qualname = "?"
    try:
        module = _TYPE_MODULE.__get__(tp)
    except Exception:
        module = None
    if type(module) is not str:
        return clip(qualname)
    return clip(module + "." + qualname)


def is_sub(tp: type, cls: Optional[type]) -> bool:
    """issubclass(tp, cls) by the C-level MRO: no __subclasscheck__ or __subclasshook__."""
    if cls is None:
        return False
    try:
        return _SUBCLASS_CHECK(cls, tp)
    except Exception:
        return False


def lookup_on_type(tp: type, name: str) -> Any:
    """The raw attribute the first class in tp's MRO defines (no descriptor is run)."""
    try:
        mro = _TYPE_MRO.__get__(tp)
        for klass in mro or ():
            namespace = _TYPE_DICT.__get__(klass)
            if name in namespace:
                return namespace[name]
    except Exception:
        pass
    return MISSING


def instance_dict(obj: Any) -> Optional[dict]:
    """obj.__dict__ through the C-level slot, skipping any `__dict__` property."""
    try:
        mro = _TYPE_MRO.__get__(type(obj))
        for klass in mro or ():
            descriptor = _TYPE_DICT.__get__(klass).get("__dict__")
            if type(descriptor) is types.GetSetDescriptorType:
                found = descriptor.__get__(obj)
                return found if type(found) is dict else None
    except Exception:
        pass
    return None


def has_c_sizeof(tp: type) -> bool:
    return type(lookup_on_type(tp, "__sizeof__")) in C_LEVEL


def module_attr(module_name: str, attr: str) -> Any:
    """A class from an already imported module, or None (nothing is imported here)."""
    module = sys.modules.get(module_name)
    if module is None:
        return None
    try:
        found = module.__dict__.get(attr)
    except Exception:
        return None
    return found if is_sub(type(found), type) else None
