"""Walk a cell's AST once, in order, propagating abstract values (values.py) through
assignments and recording every allocation the rules recognise.

Memory accounting: `live[device]` is what the cell has allocated and still holds there:
values bound to names plus the temporaries of the statement being evaluated. An
allocation's peak is `live` right after it (its inputs still alive); a consumer frees
its temporary inputs once its own result exists. Bytes held before the cell are not
counted: they are already missing from what is free."""
from __future__ import annotations

import ast
import builtins
import operator
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import rules
from .budget import Budget
from .findings import format_bytes
from .values import (SCALAR, RangeItem, UNKNOWN, Arr, Scalar, Ev, Graph, Hetero, LoopInt, ModelClass,
                     ReadInt, Ref, Seq, Span, read_notes)

MAX_DEPTH = 60          # deeper expressions are unknown (and cannot be huge allocations)
MAX_TEXT = 80
MAX_INT = 1 << 64
MAX_SPREAD = 64         # items of a starred list of identical items spread into a call
_INT_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
            ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_BUILTINS = ("len", "range", "int", "float", "next", "iter", "list", "tuple", "min",
             "max", "sum", "abs", "round", "enumerate", "bool")


@dataclass
class Event:
    kind: str
    line: int
    nbytes: int
    peak: int
    device: str
    message: str
    suggestion: str
    exact: bool = False


class Analysis:
    def __init__(self, source: str, namespace: Optional[dict], resolver, budget: Budget):
        self.lines = source.splitlines()
        self.namespace = namespace if type(namespace) is dict else {}
        self.resolver = resolver
        self.budget = budget
        self.env: Dict[str, Any] = {}
        self.owner: Dict[str, int] = {}              # name -> token of bytes it holds
        self.holders: Dict[int, set] = {}
        self.held: Dict[int, Dict[str, int]] = {}
        self.live: Dict[str, int] = defaultdict(int)
        self.events: List[Event] = []
        self.depth = 0
        self._tokens = 0
        self.notes: List[str] = []  # per call being evaluated: what its sizes were read from

    # -- statements -------------------------------------------------------------------
    def run(self, tree: ast.Module) -> None:
        self.block(tree.body)

    def block(self, body) -> None:
        for stmt in body:
            self.budget.check()
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            ev = self.expr(node.value)
            for i, target in enumerate(node.targets):
                self.bind(target, ev if i == 0 else Ev(ev.value, token=ev.token))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.expr(node.value))
        elif isinstance(node, ast.AugAssign):
            self.augassign(node)
        elif isinstance(node, ast.Expr):
            ev = self.expr(node.value)
            moved = _moved_in_place(node.value)
            if moved is not None and isinstance(self.lookup(moved), (Graph, Hetero)) \
                    and isinstance(ev.value, (Graph, Hetero)):
                self.bind(ast.Name(id=moved), ev)  # data.to(device): PyG moves in place
            else:
                self.free(ev)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.loop(node)
        elif isinstance(node, ast.While):
            self.free(self.expr(node.test))
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, ast.If):
            test = self.expr(node.test)
            self.free(test)
            known = _truth(test.value)
            if known is not False:  # a branch that cannot run is skipped
                self.block(node.body)
            if known is not True:
                self.block(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                ev = self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, Ev(UNKNOWN))
                self.free(ev)
            self.block(node.body)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.block(node.body)
            for handler in node.handlers:
                self.block(handler.body)
            self.block(node.orelse)
            self.block(node.finalbody)
        elif isinstance(node, ast.ClassDef):
            # bodies run later, if ever: not analysed; a Module subclass makes models
            bases = [self.expr(base).value for base in node.bases]
            self.set_name(node.name, ModelClass(node.name)
                          if any(_is_module_class(b) for b in bases) else UNKNOWN)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.unbind(node.name)
            self.env[node.name] = UNKNOWN  # bodies run later, if ever: not analysed
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".", 1)[0]
                path = alias.name if alias.asname else name
                self.set_name(name, Ref(path) if rules.known_family(path) else UNKNOWN)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                path = f"{node.module}.{alias.name}" if node.module else alias.name
                known = node.level == 0 and rules.known_family(path)
                self.set_name(alias.asname or alias.name,
                              None if known and path == "numpy.newaxis" else
                              Ref(path) if known else UNKNOWN)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.unbind(target.id)
                    self.env[target.id] = UNKNOWN

    def loop(self, node) -> None:
        ev = self.expr(node.iter)
        element = rules.element_of(self, node.iter, ev)
        if isinstance(element, RangeItem):
            element = LoopInt(node.target.id, largest=element.largest) \
                if isinstance(node.target, ast.Name) else UNKNOWN
        self.bind(node.target, Ev(element))
        self.free(ev)
        self.block(node.body)
        self.block(node.orelse)

    def augassign(self, node: ast.AugAssign) -> None:
        ev = self.expr(node.value)
        if isinstance(node.target, ast.Name):
            current = self.lookup(node.target.id)
            if isinstance(current, int) and isinstance(ev.value, int) \
                    and type(node.op) in _INT_OPS:
                self.set_name(node.target.id, self.intop(node.op, current, ev.value))
                return
        self.free(ev)  # tensors and arrays: updated in place, nothing new

    # -- names --------------------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        if name in self.env:
            return self.env[name]
        if name in self.namespace:
            try:
                obj = self.namespace[name]
            except Exception:
                return UNKNOWN
            value = self.resolver.value(obj)
            self.env[name] = value
            return value
        if name in _BUILTINS and hasattr(builtins, name):
            return Ref("builtins." + name)
        return UNKNOWN

    def set_name(self, name: str, value: Any) -> None:
        self.unbind(name)
        self.env[name] = value

    def bind(self, target: ast.AST, ev: Ev) -> None:
        if isinstance(target, ast.Name):
            self.unbind(target.id)
            self.env[target.id] = ev.value
            token = ev.token
            if ev.temp:
                self._tokens += 1
                token = self._tokens
                self.held[token] = dict(ev.temp)
                self.holders[token] = set()
                ev.temp = {}
                ev.token = token
            if token is not None and token in self.holders:
                self.holders[token].add(target.id)
                self.owner[target.id] = token
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = ev.value if isinstance(ev.value, tuple) \
                and len(ev.value) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                self.bind(element, Ev(values[i] if values else UNKNOWN))
            # the bytes stay held by the unpacked names' objects: not freed
        elif isinstance(target, ast.Attribute):
            self.set_attribute(target, ev)
        # items (`data['x'] = ...`): the object keeps the bytes alive

    def set_attribute(self, target: ast.Attribute, ev: Ev) -> None:
        """`data.adj = ...` on a graph the cell knows: the graph now holds it (a later
        data.to(device) moves it too); `data['paper'].x = ...` likewise. The object keeps
        the bytes alive, so they are not freed."""
        owner = target.value
        if isinstance(owner, ast.Name):
            graph = self.lookup(owner.id)
            if isinstance(graph, Graph):
                self.env[owner.id] = graph.with_tensor(target.attr, ev.value)
        elif isinstance(owner, ast.Subscript) and isinstance(owner.value, ast.Name) \
                and isinstance(owner.slice, ast.Constant) and isinstance(owner.slice.value, str):
            data = self.lookup(owner.value.id)
            store = data.store(owner.slice.value) if isinstance(data, Hetero) else None
            if store is not None:
                self.env[owner.value.id] = data.with_store(owner.slice.value,
                                                           store.with_tensor(target.attr,
                                                                             ev.value))

    def unbind(self, name: str) -> None:
        token = self.owner.pop(name, None)
        if token is None:
            return
        names = self.holders.get(token)
        if names is not None:
            names.discard(name)
            if not names:
                for device, nbytes in self.held.pop(token, {}).items():
                    self.live[device] -= nbytes
                del self.holders[token]

    def free(self, ev: Ev) -> None:
        for device, nbytes in ev.temp.items():
            self.live[device] -= nbytes
        ev.temp = {}

    # -- expressions ---------------------------------------------------------------------
    def expr(self, node: ast.AST) -> Ev:
        self.budget.check()
        if self.depth > MAX_DEPTH:
            return Ev(UNKNOWN)
        self.depth += 1
        try:
            return self._expr(node)
        finally:
            self.depth -= 1

    def _expr(self, node: ast.AST) -> Ev:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                return Ev(UNKNOWN)
            if isinstance(value, (str, bytes)) and len(value) > 100:
                return Ev(UNKNOWN)
            return Ev(value)
        if isinstance(node, ast.Name):
            ev = Ev(self.lookup(node.id))
            token = self.owner.get(node.id)
            if token is not None:
                ev.token = token
            return ev
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value)
            try:
                return rules.attribute(self, node, base)
            except rules.NotHandled:
                self.free(base)
                return Ev(UNKNOWN)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            ev = self.expr(node.operand)
            if isinstance(ev.value, (int, float, complex)) and not isinstance(ev.value, bool) \
                    and isinstance(node.op, (ast.USub, ast.UAdd)):
                return Ev(-ev.value if isinstance(node.op, ast.USub) else ev.value)
            if isinstance(node.op, ast.Not) and _truth(ev.value) is not None:
                return Ev(not _truth(ev.value))
            if isinstance(ev.value, Arr) and not isinstance(node.op, ast.Not):
                reused = rules.elided_unary(node, ev)
                if reused is not None:
                    return reused
                return self.alloc(node, ev.value.but(strided=False, role=""), [ev],
                                  "elementwise", "an elementwise result")
            self.free(ev)
            return Ev(UNKNOWN)
        if isinstance(node, ast.Compare):
            return rules.compare(self, node)
        if isinstance(node, ast.Subscript):
            return rules.subscript(self, node)
        if isinstance(node, (ast.Tuple, ast.List)):
            evs = [self.expr(e) for e in node.elts]
            values = tuple(self.spread(node.elts, evs))
            temp = self.merge_temps(evs)
            value = values if isinstance(node, ast.Tuple) else Seq(len(values), values)
            return Ev(value, temp)
        if isinstance(node, ast.ListComp):
            return rules.listcomp(self, node)
        if isinstance(node, ast.IfExp):
            self.free(self.expr(node.test))
            return self.expr(node.body)  # the branch code is usually written for (GPU)
        if isinstance(node, ast.NamedExpr):
            ev = self.expr(node.value)
            self.bind(node.target, Ev(ev.value))
            return ev
        if isinstance(node, ast.Starred):
            return self.expr(node.value)
        if isinstance(node, ast.Slice):
            bounds = [self.expr(b).value if b is not None else None
                      for b in (node.lower, node.upper, node.step)]
            if all(b is None or (isinstance(b, int) and not isinstance(b, bool))
                   for b in bounds):
                return Ev(slice(*bounds))
            low, high, step = bounds
            if isinstance(low, LoopInt) and isinstance(high, LoopInt) and step is None \
                    and (low.name, low.scale) == (high.name, high.scale) \
                    and high.offset >= low.offset:
                return Ev(Span(high.offset - low.offset))  # x[i * b:(i + 1) * b]
            return Ev(UNKNOWN)
        return Ev(UNKNOWN)

    def spread(self, elts, evs) -> list:
        values = []
        for element, ev in zip(elts, evs):
            if isinstance(element, ast.Starred):
                inner = ev.value
                if isinstance(inner, tuple):
                    values.extend(inner)
                elif isinstance(inner, Seq) and inner.items is not None:
                    values.extend(inner.items)
                elif isinstance(inner, Seq) and inner.count is not None \
                        and inner.count <= MAX_SPREAD and inner.each is not UNKNOWN:
                    values.extend([inner.each] * inner.count)  # *[x for _ in range(3)]
                else:
                    values.append(UNKNOWN)
            else:
                values.append(ev.value)
        return values

    def merge_temps(self, evs) -> Dict[str, int]:
        temp: Dict[str, int] = defaultdict(int)
        for ev in evs:
            for device, nbytes in ev.temp.items():
                temp[device] += nbytes
            ev.temp = {}
        return dict(temp)

    def call(self, node: ast.Call) -> Ev:
        func = self.expr(node.func)
        args = [self.expr(a) for a in node.args]
        values = [_worst(v) for v in self.spread(node.args, args)]
        kwargs = {}
        for keyword in node.keywords:
            ev = self.expr(keyword.value)
            ev.value = _worst(ev.value)
            if keyword.arg is not None:
                kwargs[keyword.arg] = ev
            else:
                args.append(ev)
        inputs = [func] + args + list(kwargs.values())
        notes = read_notes(values + [ev.value for ev in kwargs.values()])
        self.notes.append(notes[0] if notes else "")
        try:
            result = rules.call(self, node, func.value, values, kwargs, inputs)
        except rules.NotHandled:
            result = None
        finally:
            self.notes.pop()
        if result is None:
            for ev in inputs:
                self.free(ev)
            return Ev(UNKNOWN)
        return result

    def binop(self, node: ast.BinOp) -> Ev:
        left, right = self.expr(node.left), self.expr(node.right)
        a, b = left.value, right.value
        if isinstance(a, (int, float, complex)) and isinstance(b, (int, float, complex)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            return Ev(self.numop(node.op, a, b))
        if isinstance(a, tuple) and isinstance(b, tuple) and isinstance(node.op, ast.Add):
            return Ev(a + b)
        if isinstance(a, LoopInt) or isinstance(b, LoopInt):
            return Ev(_affine(node.op, a, b))
        if (a is SCALAR and isinstance(b, (int, float, Scalar))) or \
                (b is SCALAR and isinstance(a, (int, float))):
            return Ev(SCALAR)
        if isinstance(a, (tuple, Seq)) and isinstance(b, int) and isinstance(node.op, ast.Mult):
            return Ev(rules.repeat_seq(a, b))
        if isinstance(a, Arr) or isinstance(b, Arr):
            try:
                return rules.array_binop(self, node, left, right)
            except rules.NotHandled:  # x @ something unknown: the result is unknown
                pass
        self.free(left)
        self.free(right)
        return Ev(UNKNOWN)

    def numop(self, op, a, b) -> Any:
        try:
            if isinstance(a, int) and isinstance(b, int) and type(op) in _INT_OPS:
                return self.intop(op, a, b)
            if isinstance(op, ast.Div):
                return a / b
            if isinstance(op, ast.Pow):
                if abs(b) > 64 or abs(a) > MAX_INT:
                    return UNKNOWN
                result = a ** b
                return result if not isinstance(result, int) or abs(result) <= MAX_INT \
                    else UNKNOWN
            if type(op) in _INT_OPS:
                return _INT_OPS[type(op)](a, b)
        except Exception:
            pass
        return UNKNOWN

    def intop(self, op, a: int, b: int) -> Any:
        try:
            result = _INT_OPS[type(op)](a, b)
        except Exception:
            return UNKNOWN
        if abs(result) > MAX_INT * MAX_INT:
            return UNKNOWN
        notes = read_notes((a, b))
        return ReadInt(result, notes[0]) if notes else result

    # -- allocations -------------------------------------------------------------------
    def alloc(self, node: ast.AST, arr: Arr, consumed, kind: str, what: str,
              suggestion: str = "", transient: int = 0, nbytes: Optional[int] = None,
              freed_inputs: bool = True, exact: Optional[bool] = None) -> Ev:
        """Record an allocation of `arr` made by `node`; free the consumed temporaries.
        `exact` defaults to whether the array's shape is known rather than estimated."""
        size = arr.nbytes if nbytes is None else nbytes
        device = arr.device
        if size is None or device == "meta":
            for ev in consumed:
                self.free(ev)
            return Ev(arr)
        self.live[device] += size + transient
        peak = self.live[device]
        self.live[device] -= transient
        self.record(node, kind, size, peak, device, what, arr, suggestion,
                    exact=not arr.estimated if exact is None else exact,
                    transient=transient)
        if freed_inputs:
            for ev in consumed:
                self.free(ev)
        return Ev(arr, {device: size})

    def record(self, node, kind, size, peak, device, what, arr, suggestion,
               exact: bool = True, transient: int = 0) -> None:
        """One event; `transient`: bytes the call holds inside itself beyond its result
        (counted in what it needs, said apart in the message)."""
        line = getattr(node, "lineno", 1)
        shape = ""
        if isinstance(arr, Arr) and arr.shape is not None and arr.role != "bytes":
            shape = " (" + " x ".join(f"{d:,}" for d in arr.shape) + f", {arr.dtype})"
        code = self.snippet(node)
        if self.notes and self.notes[-1] and self.notes[-1] not in what:
            what += f", sized from {self.notes[-1]}"
        inside = ""
        if transient > 0 and transient >= size // 10:
            inside = f" ({format_bytes(size)} its result, the rest inside the call)"
            size += transient
        message = (f"Line {line}: {what}{shape} needs {'' if exact else 'about '}"
                   f"{format_bytes(size)} on {device}{inside}"
                   f"{' — ' + code if code else ''}")
        if peak > size:
            message += (f"; {format_bytes(peak)} at that moment with its inputs and what "
                        "the cell already holds there")
        self.events.append(Event(kind, line, int(size), int(peak), device, message,
                                 suggestion or rules.default_suggestion(kind, arr),
                                 bool(exact)))

    def snippet(self, node) -> str:
        try:
            line = self.lines[node.lineno - 1]
            if node.end_lineno == node.lineno:
                text = line[node.col_offset:node.end_col_offset]
            else:
                text = line[node.col_offset:] + " …"
        except Exception:
            return ""
        text = text.strip()
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _is_module_class(base: Any) -> bool:
    """A base class that makes a model: torch.nn.Module (or a PyG layer or model base),
    or a class already known to be one."""
    if isinstance(base, ModelClass):
        return True
    return isinstance(base, Ref) and base.family in ("torch", "torch_geometric") and \
        base.path.rsplit(".", 1)[-1] in ("Module", "MessagePassing", "BasicGNN")


def _moved_in_place(call: ast.AST) -> Optional[str]:
    """`data.to(device)` / `.cuda()` / `.cpu()` as a statement: the name it moves."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in ("to", "cuda", "cpu") and isinstance(call.func.value, ast.Name):
        return call.func.value.id
    return None


def _affine(op, a: Any, b: Any) -> Any:
    """Arithmetic of a loop variable with ints: i * b, (i + 1) * b, i + k."""
    if isinstance(a, LoopInt) and isinstance(b, int) and not isinstance(b, bool):
        loop, k, flipped = a, b, False
    elif isinstance(b, LoopInt) and isinstance(a, int) and not isinstance(a, bool):
        loop, k, flipped = b, a, True
    else:
        return UNKNOWN
    if isinstance(op, ast.Add):
        return LoopInt(loop.name, loop.scale, loop.offset + k, loop.largest)
    if isinstance(op, ast.Sub) and not flipped:
        return LoopInt(loop.name, loop.scale, loop.offset - k, loop.largest)
    if isinstance(op, ast.Mult) and k > 0:
        return LoopInt(loop.name, loop.scale * k, loop.offset * k, loop.largest)
    return UNKNOWN


def _worst(value: Any) -> Any:
    """A loop variable passed to a call, as its largest value in the loop (a size that
    grows with it needs the most at the last pass); in a shape tuple too."""
    if isinstance(value, LoopInt):
        return value.worst() or value
    if isinstance(value, tuple) and any(isinstance(v, LoopInt) for v in value):
        return tuple(_worst(v) for v in value)
    return value


def _truth(value: Any) -> Optional[bool]:
    """The truth of a value the predictor knows exactly (None, a bool, a number, a
    string), else None: only such a test decides which branch of an `if` runs."""
    if value is None or type(value) in (bool, int, float, str):
        return bool(value)
    return None
