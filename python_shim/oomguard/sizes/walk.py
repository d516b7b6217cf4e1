"""Classify objects by their type and walk what a variable holds.

The walk is iterative (a stack of iterators, so a 10-million-item list is never copied)
and bounded three ways: container depth, items per variable and the scan's clock.
Containers are opened through the built-in base class's own C methods (`list.__iter__`
on a list subclass), so an overridden `__iter__` or `__len__` never runs."""
from __future__ import annotations

import collections
import functools
import itertools
import logging
import sys
import types
from typing import Any, Optional

from . import arrays, torchlike
from .safe import GC_HEAD, has_c_sizeof, is_sub, module_attr, type_name
from .tally import ScanState, Tally, human_bytes

log = logging.getLogger("oomguard")

# Kinds of object. From CONTAINER on they are "heavy": walked, measured first, and
# deduplicated when another variable reaches them.
SKIP, SINGLETON, LEAF, OTHER, CONTAINER, NDARRAY, TENSOR, MODULE, PYG_DATA, PYG_STORE, \
    PANDAS, PANDAS_ARRAY, SCIPY = range(13)

CHUNK = 256  # items taken from a container at a time (and between looks at the clock)
BIG_LEAF = 1024  # a str/bytes this long is deduplicated across variables

_SKIPPED_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                  types.MethodType, types.MethodDescriptorType, types.WrapperDescriptorType,
                  staticmethod, classmethod, property, functools.partial)
_CONTAINERS = (list, tuple, dict, set, frozenset, collections.deque)
_EXACT = {id(int): LEAF, id(float): LEAF, id(complex): LEAF, id(str): LEAF,
          id(bytes): LEAF, id(bool): SINGLETON, id(type(None)): SINGLETON,
          id(type(Ellipsis)): SINGLETON, id(type(NotImplemented)): SINGLETON,
          id(list): CONTAINER, id(tuple): CONTAINER, id(dict): CONTAINER,
          id(set): CONTAINER, id(frozenset): CONTAINER, id(collections.deque): CONTAINER}


def container_base(tp: type) -> type:
    for base in _CONTAINERS:
        if tp is base or is_sub(tp, base):
            return base
    return list  # not reached for a CONTAINER


def open_container(obj: Any, base: type):
    """An iterator over the container's items (dicts: keys and values) by C methods."""
    if base is dict:
        return itertools.chain.from_iterable(dict.items(obj))
    return base.__iter__(obj)


class Walker:
    """Measures variables into Tallies; one per scan (it caches what each type is)."""

    def __init__(self, state: ScanState):
        self.state = state
        self.numpy = arrays.NumpyKit.load()
        self.torch = torchlike.TorchKit.load()
        self.pyg_data, self.pyg_store = torchlike.pyg_classes() if self.torch else (None, None)
        self.frame, self.index = arrays.pandas_classes()
        self.pandas_array = module_attr("pandas.core.arrays.base", "ExtensionArray")
        self.sparse = arrays.scipy_sparse_base()
        self.module = (module_attr("torch.nn.modules.module", "Module")
                       if self.torch else None)
        # Caches keyed by id(type): hashing a type could run a metaclass's __hash__,
        # and the types stay alive (pinned) for the scan.
        self.kinds = dict(_EXACT)
        self._c_sizeof: dict = {}
        self._bases: dict = {id(base): base for base in _CONTAINERS}
        self._names: dict = {}
        self._pinned: list = []

    # -- classification -------------------------------------------------------------

    def kind_of(self, tp: type) -> int:
        kind = self.kinds.get(id(tp))
        if kind is None:
            kind = self.kinds[id(tp)] = self._classify(tp)
            self._pinned.append(tp)
        return kind

    def container_base(self, tp: type) -> type:
        base = self._bases.get(id(tp))
        if base is None:
            base = self._bases[id(tp)] = container_base(tp)
            self._pinned.append(tp)
        return base

    def sizeof_is_safe(self, tp: type) -> bool:
        """Whether sys.getsizeof runs only C code for this type."""
        safe = self._c_sizeof.get(id(tp))
        if safe is None:
            safe = self._c_sizeof[id(tp)] = has_c_sizeof(tp)
            self._pinned.append(tp)
        return safe

    def type_name(self, tp: type) -> str:
        name = self._names.get(id(tp))
        if name is None:
            name = self._names[id(tp)] = type_name(tp)
            self._pinned.append(tp)
        return name

    def _classify(self, tp: type) -> int:
        if any(is_sub(tp, skipped) for skipped in _SKIPPED_TYPES):
            return SKIP
        numpy, torch = self.numpy, self.torch
        if numpy is not None and is_sub(tp, numpy.ndarray):
            return NDARRAY
        if torch is not None:
            if is_sub(tp, torch.Tensor):
                return TENSOR
            if is_sub(tp, self.module):
                return MODULE
            if is_sub(tp, self.pyg_data):
                return PYG_DATA
            if is_sub(tp, self.pyg_store):
                return PYG_STORE
        if is_sub(tp, self.frame):
            return PANDAS
        if is_sub(tp, self.index) or is_sub(tp, self.pandas_array):
            return PANDAS_ARRAY
        if is_sub(tp, self.sparse):
            return SCIPY
        if any(is_sub(tp, base) for base in _CONTAINERS):
            return CONTAINER
        return OTHER

    def rank(self, obj: Any, kind: int) -> int:
        """Measuring order of heavy objects: buffers' owners, then views, then what holds
        them, then containers. Owners first so `a` owns its buffer, not `a[::2]`."""
        if kind == NDARRAY:
            return 1 if arrays.is_array_view(self.numpy, obj) else 0
        if kind == TENSOR:
            with self.torch.plain():
                return 1 if torchlike.is_view(self.torch, obj) else 0
        return 3 if kind == CONTAINER else 2

    # -- measuring --------------------------------------------------------------------

    def shallow(self, obj: Any):
        """(bytes, None) or (None, a note) for a variable measured without a walk."""
        tp = type(obj)
        if not self.sizeof_is_safe(tp):
            return None, ("Not measured: its type works out its own size in Python code, "
                          "which oomguard does not run.")
        try:
            return sys.getsizeof(obj), None
        except Exception:
            return None, "Not measured: its __sizeof__ failed."

    def measure(self, tally: Tally, obj: Any, kind: int) -> None:
        """Walk one heavy top-level variable into its tally."""
        try:
            if self.torch is not None:
                with self.torch.plain():
                    self._walk(tally, obj, kind)
            else:
                self._walk(tally, obj, kind)
        except Exception as exc:  # e.g. a registry dict resized by another thread
            tally.truncated = True
            tally.note(f"It could not be measured completely ({type_name(type(exc))}).")
            log.debug("oomguard: measuring %s failed", tally.name, exc_info=True)
        finally:
            tally.seen = None  # not needed any more; keeps long-lived objects few

    def _walk(self, tally: Tally, root: Any, root_kind: int) -> None:
        state = self.state
        if root_kind == TENSOR or root_kind == NDARRAY:  # the common roots: no walk
            if root_kind == TENSOR:
                torchlike.measure_tensor(self.torch, root, state, tally)
            else:
                arrays.measure_ndarray(self.numpy, root, state, tally, self._foreign_tensor)
            tally.dtypes = tally.device_bytes = None  # describe() reads them off the root
            return
        tally.seen = seen = set()
        children, depth_step = self._visit(tally, root, 0, root_kind)
        if children is None:
            return
        root_size = tally.bytes
        stack = [(iter(children), depth_step)]
        kinds, kind_of, getsizeof = self.kinds, self.kind_of, sys.getsizeof
        max_items, max_depth = state.max_items, state.max_depth
        items, leaf_bytes = 0, 0  # items: inside the root
        try:
            while stack:
                iterator, depth = stack[-1]
                try:
                    chunk = list(itertools.islice(iterator, CHUNK))
                except RuntimeError:  # changed size during iteration (another thread)
                    stack.pop()
                    tally.truncated = True
                    tally.note("It changed while it was being measured.")
                    continue
                if not chunk:
                    stack.pop()
                    continue
                over = items + len(chunk) > max_items
                if over:
                    del chunk[max_items - items:]
                items += len(chunk)
                for obj in chunk:
                    tp = type(obj)
                    kind = kinds.get(id(tp))
                    if kind is None:
                        kind = kind_of(tp)
                    if kind <= LEAF:  # numbers and strings: counted inline
                        if kind == LEAF:
                            ident = id(obj)
                            if ident not in seen:
                                seen.add(ident)
                                size = getsizeof(obj)
                                if size < BIG_LEAF or not self._owned_elsewhere(tally, ident):
                                    leaf_bytes += size
                        continue
                    children, depth_step = self._visit(tally, obj, depth, kind)
                    if children is not None:
                        if depth + depth_step > max_depth:
                            tally.truncated = True
                            tally.note(f"Nested deeper than {max_depth} levels: the deeper "
                                       "levels were not walked.")
                        else:
                            stack.append((iter(children), depth + depth_step))
                if over:
                    tally.bytes, tally.items, leaf_bytes = tally.bytes + leaf_bytes, items, 0
                    self._cut_at_max_items(tally, root, root_kind, root_size)
                    return
                if state.past_deadline():
                    tally.truncated = True
                    return
        finally:
            tally.bytes += leaf_bytes
            tally.items = items

    def _cut_at_max_items(self, tally: Tally, root: Any, root_kind: int,
                          root_size: int) -> None:
        """Mark the walk cut, with an estimate for a big flat container: bytes stays a
        lower bound, the note says what the walked items suggest for all of them."""
        tally.truncated = True
        walked = tally.items
        text = f"Only the first {walked} items were walked."
        if root_kind == CONTAINER and walked > 0:
            base = self.container_base(type(root))
            length = base.__len__(root) * (2 if base is dict else 1)  # keys and values
            if length > walked:
                estimate = root_size + (tally.bytes - root_size) * length // walked
                text += (f" At that rate all {length} would hold about "
                         f"{human_bytes(estimate)}.")
        tally.note(text)

    def _visit(self, tally: Tally, obj: Any, depth: int, kind: int):
        """Count the memory of obj (not a leaf or singleton) itself; return (what to walk
        inside it, depth step)."""
        if kind == SKIP:
            return None, 0
        tp = type(obj)
        ident = id(obj)
        seen = tally.seen
        if ident in seen:
            return None, 0
        seen.add(ident)
        state = self.state
        if kind != OTHER and self._owned_elsewhere(tally, ident):
            return None, 0  # another variable is this object: counted there
        if kind == CONTAINER:
            owner = state.claims.get(ident)  # containers are claimed by id
            if owner is not None and owner != tally.name:
                state.share(ident, owner, tally.name)
                return None, 0
            state.claims[ident] = tally.name
            base = self.container_base(tp)
            tally.bytes += base.__sizeof__(obj) + GC_HEAD
            return open_container(obj, base), 1
        if kind == OTHER:
            if self.sizeof_is_safe(tp):
                try:
                    tally.bytes += sys.getsizeof(obj)
                except Exception:
                    tally.note("Some items' sizes could not be read.")
            else:
                tally.note("Some items compute their size in Python code, which oomguard "
                           "does not run; they are not counted.")
            return None, 0
        if kind == NDARRAY:
            arrays.measure_ndarray(self.numpy, obj, state, tally, self._foreign_tensor)
            return None, 0
        if kind == TENSOR:
            torchlike.measure_tensor(self.torch, obj, state, tally)
            return None, 0
        if kind == MODULE:
            return torchlike.module_children(obj), 0
        if kind == PYG_DATA:
            return torchlike.pyg_data_children(obj), 0
        if kind == PYG_STORE:
            return torchlike.pyg_store_children(obj), 0
        if kind == PANDAS:
            children: list = []
            arrays.measure_pandas(obj, state, tally, children)
            return children, 0
        if kind == PANDAS_ARRAY:
            ndarray = self.numpy.ndarray if self.numpy else None
            return arrays.extension_array_children(obj, ndarray, tally), 0
        if kind == SCIPY:
            if self.numpy is None:
                return None, 0
            return arrays.scipy_children(obj, self.numpy.ndarray), 0
        return None, 0

    def _owned_elsewhere(self, tally: Tally, ident: int) -> bool:
        owner = self.state.top_ids.get(ident)
        if owner is not None and owner != tally.name:
            self.state.share(ident, owner, tally.name)
            return True
        return False

    def _foreign_tensor(self, base: Any, state: ScanState, tally: Tally) -> bool:
        """Count a tensor that a numpy array's memory belongs to (tensor.numpy())."""
        if self.torch is None or not is_sub(type(base), self.torch.Tensor):
            return False
        torchlike.measure_tensor(self.torch, base, state, tally, with_grad=False)
        return True

    def describe(self, obj: Any, kind: int) -> tuple:
        """(shape, dtype, device) of a top-level object, None where its kind has none."""
        try:
            if kind == NDARRAY:
                return arrays.describe_ndarray(self.numpy, obj)
            if kind == TENSOR:
                with self.torch.plain():
                    return torchlike.describe_tensor(self.torch, obj)
            if kind == PANDAS:
                return arrays.describe_pandas(obj)
            if kind == SCIPY:
                return arrays.describe_scipy(self.numpy, obj)
            if kind == CONTAINER:
                return [self.container_base(type(obj)).__len__(obj)], None, None
        except Exception:
            pass
        return None, None, None
