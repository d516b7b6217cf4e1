"""Leak hints: variables that keep growing, and containers that keep autograd graphs.

Both return hint dicts {kind, name, message, suggestion, bytes} and never raise: a hint
is advice, and a failure to give one must not reach the user's cell."""
from __future__ import annotations

import collections
import logging
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional

from .sizes.safe import is_sub
from .sizes.scan import IPYTHON_NAMES
from .sizes.tally import human_bytes
from .sizes.torchlike import TorchKit

log = logging.getLogger("oomguard")

MiB = 1 << 20


def sizes_of(variables: Iterable[dict]) -> Dict[str, Optional[int]]:
    """{name: bytes} from scan_namespace's VariableInfo dicts: what GrowthTracker eats
    (sizes.variable_sizes gives the same map without building the dicts)."""
    return {info["name"]: info.get("bytes") for info in variables}


class GrowthTracker:
    """Fed one {name: bytes} map per executed cell; reports the variables that grew in
    each of the last `cells` cells by at least `min_growth` bytes in all."""

    def __init__(self, cells: int = 3, min_growth: int = MiB):
        self.cells = max(1, int(cells))
        self.min_growth = max(1, int(min_growth))
        self._history: collections.deque = collections.deque(maxlen=self.cells + 1)

    def reset(self) -> None:
        self._history.clear()

    def observe(self, sizes: Mapping[str, Optional[int]]) -> List[dict]:
        try:
            self._history.append({name: size for name, size in sizes.items()
                                  if type(name) is str and type(size) is int})
            return self._hints()
        except Exception:
            log.warning("oomguard: growth tracking failed", exc_info=True)
            return []

    def _hints(self) -> List[dict]:
        if len(self._history) <= self.cells:
            return []
        hints = []
        for name, latest in self._history[-1].items():
            series = [cell.get(name) for cell in self._history]
            if any(size is None for size in series):
                continue  # absent in some cell: deleted, recreated or not measured
            if all(later > earlier for earlier, later in zip(series, series[1:])):
                growth = series[-1] - series[0]
                if growth >= self.min_growth:
                    hints.append(_growth_hint(name, growth, self.cells, latest))
        hints.sort(key=lambda hint: -hint["bytes"])
        return hints


def _growth_hint(name: str, growth: int, cells: int, latest: int) -> dict:
    return {
        "kind": "growth",
        "name": name,
        "bytes": growth,
        "message": (f"{name} grew in each of the last {cells} cells: "
                    f"+{human_bytes(growth)}, now {human_bytes(latest)}."),
        "suggestion": (f"If re-running a cell keeps adding to {name}, reset it at the top "
                       f"of that cell ({name} = [] / {{}}) or del {name} when done."),
    }


# --- autograd graphs kept alive ------------------------------------------------------

_SEQUENCES = (list, collections.deque)  # what a training loop appends to
_MAPPINGS_AND_TUPLES = (dict, tuple)


def autograd_hints(namespace: dict, *, min_tensors: int = 3, max_items: int = 2_000,
                   max_depth: int = 3, time_budget: float = 0.02) -> List[dict]:
    """Containers in the namespace whose lists hold tensors that still carry a grad_fn
    (the classic `losses.append(loss)`), and IPython's `Out` holding any. Only when the
    user has imported torch; reads tensors through torch's C accessors only."""
    try:
        kit = TorchKit.load()
        if kit is None or not is_sub(type(namespace), dict):
            return []
        deadline = time.perf_counter() + max(0.0, time_budget)
        hints = []
        with kit.plain():
            for name, value in dict.items(dict.copy(namespace)):
                if time.perf_counter() > deadline:
                    break
                if type(name) is not str:
                    continue
                is_output_cache = name == "Out"
                if not is_output_cache and (name.startswith("_") or name in IPYTHON_NAMES):
                    continue
                if _container_base(type(value)) is None:
                    continue
                found = _graph_tensors(kit, value, max_items, max_depth,
                                       in_any_container=is_output_cache)
                count, nbytes = found
                if count >= (1 if is_output_cache else min_tensors):
                    hints.append(_output_cache_hint(count, nbytes) if is_output_cache
                                 else _graph_hint(name, count, nbytes))
        hints.sort(key=lambda hint: -hint["bytes"])
        return hints
    except Exception:
        log.warning("oomguard: the autograd hint scan failed", exc_info=True)
        return []


def _container_base(tp: type) -> Optional[type]:
    for base in _SEQUENCES + _MAPPINGS_AND_TUPLES:
        if is_sub(tp, base):
            return base
    return None


def _items(container: Any, base: type) -> Iterable:
    if base is dict:
        return dict.values(container)
    if base is tuple:
        return tuple.__iter__(container)
    return base.__reversed__(container)  # lists grow at the end: newest first


def _graph_tensors(kit: TorchKit, root: Any, max_items: int, max_depth: int,
                   in_any_container: bool) -> tuple:
    """(tensors with a grad_fn held by a list or deque, their storage bytes), sampled."""
    seen, storages = set(), set()
    count = nbytes = items = 0
    stack = [(root, 0)]
    while stack and items < max_items:
        container, depth = stack.pop()
        if id(container) in seen:
            continue
        seen.add(id(container))
        base = _container_base(type(container))
        counts_here = in_any_container or base in _SEQUENCES
        try:
            for item in _items(container, base):
                items += 1
                if items > max_items:
                    break
                tp = type(item)
                if is_sub(tp, kit.Tensor):
                    if counts_here and kit.requires_grad(item) \
                            and kit.grad_fn(item) is not None:
                        count += 1
                        nbytes += _storage_bytes(kit, item, storages)
                elif depth < max_depth and _container_base(tp) is not None:
                    stack.append((item, depth + 1))
        except RuntimeError:  # changed size while being read (another thread)
            continue
    return count, nbytes


def _storage_bytes(kit: TorchKit, tensor: Any, storages: set) -> int:
    try:
        storage = kit.untyped_storage(tensor)
        key = (storage.data_ptr(), storage.nbytes())
        if key in storages:
            return 0
        storages.add(key)
        return key[1]
    except Exception:
        return 0


def _graph_hint(name: str, count: int, nbytes: int) -> dict:
    return {
        "kind": "autograd_graph",
        "name": name,
        "bytes": nbytes,
        "message": (f"{name} holds {count} tensors that still carry their autograd graph "
                    f"(grad_fn): each keeps its step's graph and the activations saved "
                    f"for backward alive, on top of the tensors' own "
                    f"{human_bytes(nbytes)}."),
        "suggestion": ("Append loss.item() (a Python number) or loss.detach() instead of "
                       "loss."),
    }


def _output_cache_hint(count: int, nbytes: int) -> dict:
    return {
        "kind": "autograd_graph",
        "name": "Out",
        "bytes": nbytes,
        "message": (f"IPython's output history (Out, _) keeps {count} displayed tensors "
                    f"with their autograd graph (grad_fn) alive."),
        "suggestion": ("Display loss.item() or loss.detach() rather than the tensor, end "
                       "the cell with ';' to keep its result out of Out, or run "
                       "%reset -f out."),
    }
