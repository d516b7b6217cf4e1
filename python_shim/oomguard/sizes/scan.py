"""scan_namespace: the engine behind `oomguard.variables()`.

Two passes over a snapshot of the namespace. The first sorts names by their type alone
(cheap, and bounded by part of the time budget) into heavy objects (arrays, tensors,
models, frames, graphs, containers) and light ones (numbers, strings, other objects).
The second measures the heavy ones first, owners of a buffer before its views, then the
light ones. So when the clock runs out on a huge namespace, what is left unmeasured is
small, and a buffer that two names share is counted under its owner."""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Dict, List, Optional, Tuple

from ..protocol import MAX_DIMS, MAX_TEXT, MAX_VARIABLES
from ..schemas import protocol_at
from .safe import clip, is_sub
from .tally import ScanState, Tally
from .walk import BIG_LEAF, CONTAINER, LEAF, SKIP, Walker

log = logging.getLogger("oomguard")

IPYTHON_NAMES = frozenset(("In", "Out", "exit", "quit", "get_ipython"))
DEFAULT_TIME_BUDGET = 0.05
DEFAULT_MAX_ITEMS = 10_000   # items walked inside one variable
DEFAULT_MAX_DEPTH = 4        # container nesting walked
DEFAULT_MAX_COLUMNS = 1_000  # pandas column blocks read per frame
DEFAULT_MAX_RESULTS = MAX_VARIABLES  # what one `variables` answer may carry
CLASSIFY_SHARE = 0.6         # of the budget the first pass may use
HEAVY_ANSWER_COST = 2.5e-6   # seconds to build one VariableInfo dict for an array,
LIGHT_ANSWER_COST = 1e-6     # model, container... and for a number or string
ORDER = 1 << 40  # rank * ORDER + position: one int sort key, no tuple per variable

VARIABLE_FIELDS = tuple(protocol_at("variableInfo", "properties"))  # a VariableInfo, in order


def scan_namespace(namespace: dict, *, time_budget: float = DEFAULT_TIME_BUDGET,
                   max_items: int = DEFAULT_MAX_ITEMS, max_depth: int = DEFAULT_MAX_DEPTH,
                   max_columns: int = DEFAULT_MAX_COLUMNS,
                   max_results: int = DEFAULT_MAX_RESULTS) -> Tuple[List[dict], bool]:
    """VariableInfo dicts (docs/protocol.md) for the user's variables, largest first,
    and whether the scan was cut short (time budget, or more than max_results names).

    Never raises and never runs user code: a failure gives ([], True) and a log line."""
    try:
        return _scan(namespace, _budget(time_budget), max_items, max_depth, max_columns,
                     max(0, int(max_results)))
    except Exception:
        log.warning("oomguard: the namespace scan failed", exc_info=True)
        return [], True


def _snapshot(namespace: Any) -> dict:
    """A shallow copy (one C call: no per-name objects for the garbage collector)."""
    if not is_sub(type(namespace), dict):
        return {}
    for _ in range(3):
        try:
            return dict.copy(namespace)
        except RuntimeError:  # resized by another thread while being copied
            continue
    return {}


class _Found:
    """Measured variables. Light ones are kept in parallel lists rather than one tuple
    each: 100,000 long-lived tuples would wake the garbage collector mid-scan."""

    def __init__(self):
        self.heavy: list = []  # Tally per heavy variable
        self.light_names: list = []
        self.light_objs: list = []
        self.light_sizes: list = []  # -1: not measured
        self.light_notes: dict = {}  # index -> note

    def largest(self, walker: Walker, state: "ScanState", count: int):
        """VariableInfo dicts for up to `count` variables, largest first, and whether
        some were left out."""
        heavy = [(tally.measured_bytes, tally) for tally in self.heavy]
        heavy.sort(key=lambda entry: -1 if entry[0] is None else entry[0], reverse=True)
        sizes, names, objs, notes = (self.light_sizes, self.light_names, self.light_objs,
                                     self.light_notes)
        light = sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True)
        type_name, shared = walker.type_name, state.shared
        infos, h, k = [], 0, 0
        while len(infos) < count and (h < len(heavy) or k < len(light)):
            heavy_size = heavy[h][0] if h < len(heavy) else -2
            light_size = sizes[light[k]] if k < len(light) else -2
            if heavy_size is None:
                heavy_size = -1
            if heavy_size >= light_size:
                infos.append(_heavy_info(walker, state, *heavy[h]))
                h += 1
                continue
            index = light[k]
            k += 1
            name, note = names[index], notes.get(index)
            infos.append({  # inline: there may be thousands of these
                "name": name if len(name) <= MAX_TEXT else clip(name),
                "type": type_name(type(objs[index])),
                "bytes": None if light_size < 0 else light_size,
                "device": None if light_size < 0 else "cpu",
                "shape": None,
                "dtype": None,
                "shared_with": sorted(shared[name]) if name in shared else [],
                "truncated": False,
                "grad_bytes": None,
                "notes": [note] if note else [],
            })
        return infos, len(heavy) + len(light) > count


def variable_sizes(namespace: dict, *, time_budget: float = DEFAULT_TIME_BUDGET,
                   max_items: int = DEFAULT_MAX_ITEMS, max_depth: int = DEFAULT_MAX_DEPTH,
                   max_columns: int = DEFAULT_MAX_COLUMNS
                   ) -> Tuple[Dict[str, Optional[int]], bool]:
    """{name: bytes or None} for the same variables, with the same accounting, without
    building VariableInfo dicts: what GrowthTracker needs after every cell. Never raises."""
    try:
        found, _, _, cut = _measure_all(namespace, _budget(time_budget), max_items,
                                        max_depth, max_columns, None)
        sizes = {tally.name: tally.measured_bytes for tally in found.heavy}
        sizes.update((name, None if size < 0 else size)
                     for name, size in zip(found.light_names, found.light_sizes))
        return sizes, cut
    except Exception:
        log.warning("oomguard: the namespace scan failed", exc_info=True)
        return {}, True


def _budget(time_budget: Any) -> float:
    if isinstance(time_budget, bool) or not isinstance(time_budget, (int, float)) \
            or not math.isfinite(time_budget):
        return DEFAULT_TIME_BUDGET
    return max(0.0, float(time_budget))


def _scan(namespace, time_budget, max_items, max_depth, max_columns, max_results):
    found, walker, state, cut = _measure_all(namespace, time_budget, max_items, max_depth,
                                             max_columns, max_results)
    variables, dropped = found.largest(walker, state, max_results)
    return variables, cut or dropped


def _measure_all(namespace, time_budget, max_items, max_depth, max_columns, max_results):
    """Both passes; max_results (None: no answer to build) sets the time kept back."""
    state = ScanState(time_budget, max_items, max_depth, max_columns)
    walker = Walker(state)
    found = _Found()
    cut = _classify(_snapshot(namespace), walker, state, found,
                    state.started + time_budget * CLASSIFY_SHARE)
    if max_results is not None:  # keep back the time to build the answer
        heavy = min(max_results, len(found.heavy))
        light = min(max_results - heavy, len(found.light_names))
        reserve = heavy * HEAVY_ANSWER_COST + light * LIGHT_ANSWER_COST
        state.deadline -= min(time_budget / 2, reserve)
    cut = _measure_heavy(walker, state, found) or cut
    cut = _measure_light(walker, state, found) or cut
    return found, walker, state, cut


def _classify(snapshot: dict, walker: Walker, state: ScanState, found: _Found,
              deadline: float) -> bool:
    """Pass 1, by type only, into found.heavy (unmeasured tallies) and the light lists.
    True when the clock cut it short."""
    clock, kinds, kind_of = time.perf_counter, walker.kinds, walker.kind_of
    top_ids, ipython_names = state.top_ids, IPYTHON_NAMES
    heavy, light_names, light_objs = found.heavy, found.light_names, found.light_objs
    for position, (name, obj) in enumerate(dict.items(snapshot)):
        if position & 255 == 255 and clock() > deadline:
            return True
        if type(name) is not str or name[:1] == "_" or name in ipython_names:
            continue
        tp = type(obj)
        kind = kinds.get(id(tp))
        if kind is None:
            kind = kind_of(tp)
        if kind >= CONTAINER:
            top_ids.setdefault(id(obj), name)
            heavy.append(Tally(name, obj, kind, walker.rank(obj, kind) * ORDER + position))
        elif kind != SKIP:
            if kind == LEAF and (tp is str or tp is bytes) and len(obj) >= BIG_LEAF:
                top_ids.setdefault(id(obj), name)
            light_names.append(name)
            light_objs.append(obj)
    return False


def _measure_heavy(walker: Walker, state: ScanState, found: _Found) -> bool:
    """Owners first, then namespace order. Unmeasured tallies are dropped at the end."""
    found.heavy.sort(key=lambda tally: tally.order)
    top_ids = state.top_ids
    for done, tally in enumerate(found.heavy):
        # The first owner is always measured: a scan whose budget went on a garbage
        # collection or a huge namespace still reports the most likely culprit.
        if done and state.past_deadline():
            del found.heavy[done:]
            return True
        first_name = top_ids.get(id(tally.obj))
        if first_name != tally.name:  # another name for the same object
            state.share(id(tally.obj), first_name, tally.name)
        else:
            walker.measure(tally, tally.obj, tally.kind)
        if state.timed_out:
            del found.heavy[done + 1:]
            return True
    return False


def _measure_light(walker: Walker, state: ScanState, found: _Found) -> bool:
    top_ids, out_of_time, shallow = state.top_ids, state.out_of_time, walker.shallow
    sizes, notes = found.light_sizes, found.light_notes
    for index, (name, obj) in enumerate(zip(found.light_names, found.light_objs)):
        if (index or found.heavy) and out_of_time():
            del found.light_names[index:], found.light_objs[index:]
            return True
        first_name = top_ids.get(id(obj))
        if first_name is not None and first_name != name:
            state.share(id(obj), first_name, name)  # another name for the same string
            sizes.append(0)
            continue
        nbytes, note = shallow(obj)
        if nbytes is None:
            sizes.append(-1)
            notes[index] = note
        else:
            sizes.append(nbytes)
    return False


def _heavy_info(walker: Walker, state: ScanState, nbytes: Optional[int],
                tally: Tally) -> dict:
    name, obj = tally.name, tally.obj
    shape, dtype, device = walker.describe(obj, tally.kind)
    if dtype is None and tally.dtypes and len(tally.dtypes) == 1:
        dtype = next(iter(tally.dtypes))  # a model or list of one dtype
    if device is None and nbytes:
        device = tally.main_device()
    shared = state.shared.get(name)
    return {
        "name": name if len(name) <= MAX_TEXT else clip(name),
        "type": walker.type_name(type(obj)),
        "bytes": nbytes,
        "device": device,
        "shape": shape if shape is None or len(shape) <= MAX_DIMS else None,
        "dtype": dtype if dtype is None or len(dtype) <= MAX_TEXT else clip(dtype),
        "shared_with": sorted(shared) if shared else [],
        "truncated": tally.truncated,
        "grad_bytes": tally.grad_bytes,
        "notes": list(tally.notes) if tally.notes else [],
    }
