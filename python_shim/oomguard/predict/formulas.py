"""Composite library functions, as a table: what each returns and what it holds at its
peak, as formulas over its arguments' shapes.

A function built of many operations (PyG's to_undirected sorts and gathers its edges
several times; scipy's dijkstra fills an M x N float64 matrix; LAPACK's gesdd wants a
workspace of 4 K^2) is one entry here instead of a rule. Each entry is data: the
signature with the shape of each array parameter (`edge_index[2, E]` binds E), derived
symbols, the results as `dtype[dims]` with an optional condition, and the peak in bytes
(`results` is the sum of the results' bytes; the inputs, already held, are not counted).
tests/test_predict_formulas.py runs every entry's real function at small sizes, measures
its peak (VmHWM), and checks it against the entry, so the table cannot drift from the
libraries. The expressions are this module's own constants, compiled once; they see only
the bound arguments (abstract values) and the helpers below."""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .values import ITEMSIZE, Arr, ReadInt, Seq, SparseMat, canonical_dtype

_SAFE_BUILTINS = {"min": min, "max": max, "sum": sum, "range": range, "comb": math.comb,
                  "int": int, "abs": abs,
                  "__builtins__": {}}


@dataclass
class Formula:
    path: str               # where users call it from: "scipy.sparse.csgraph.dijkstra"
    params: str             # "csgraph[N, N], directed=True, indices=None, ..."
    results: Tuple[str, ...]  # "dist: float64[M, N]", "pred: int32[M, N] if return_predecessors"
    peak: str = "results"   # bytes held at the call's peak, results included
    where: Tuple[Tuple[str, str], ...] = ()   # derived symbols, in order
    what: str = ""          # the finding's text, formatted with the symbols
    kind: str = "expansion"
    exact: bool = True      # False where the peak depends on the data (duplicates, ...)
    returns: str = "auto"   # "auto": a tuple when several results are active
    also: Tuple[str, ...] = ()  # other paths users call it by
    _compiled: Any = field(default=None, repr=False)

    def compile(self) -> "Compiled":
        if self._compiled is None:
            self._compiled = Compiled(self)
        return self._compiled


class Compiled:
    def __init__(self, formula: Formula):
        self.formula = formula
        self.params: List[Tuple[str, Optional[Tuple[str, ...]], Any, bool]] = []
        self.rest = False  # a **kwargs parameter takes what the others do not
        for item in _split(formula.params):
            if item.startswith("**"):
                self.rest = True
                continue
            star = item.startswith("*")
            item = item.lstrip("*")
            name, _, default = item.partition("=")
            dims = None
            if "[" in name:
                name, _, rest = name.partition("[")
                dims = tuple(d.strip() for d in rest.rstrip("]").split(","))
            value = _literal(default.strip()) if default else _REQUIRED
            self.params.append((name.strip(), dims, value, star))
        self.where = [(symbol, _code(expr)) for symbol, expr in formula.where]
        self.results = []
        for text in formula.results:
            name, _, rest = text.partition(":")
            end = rest.rindex("]")
            spec, condition = rest[:end + 1], rest[end + 1:].strip()
            if condition and not condition.startswith("if "):
                raise ValueError(f"formula result: {text!r}")
            condition = condition[3:]
            dtype, _, dims = spec.strip().partition("[")
            self.results.append((name.strip(), dtype.strip(),
                                 [_code(d) for d in _split(dims.rstrip("]"))],
                                 _code(condition) if condition else None))
        self.peak = _code(formula.peak)


_REQUIRED = object()


def _split(text: str) -> List[str]:
    """Comma-separated items, commas inside brackets kept."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        items.append(text[start:].strip())
    return items


def _literal(text: str) -> Any:
    if text == "inf":
        return math.inf
    return ast.literal_eval(text)


def _code(expr: str):
    return compile(expr.strip(), "<formula>", "eval")


@dataclass
class Outcome:
    results: List[Tuple[str, Arr]]   # the active results, in order
    peak: int
    nbytes: int                      # of the results
    exact: bool
    what: str
    notes: List[str]
    value: Any = None                # what the call returns (an Arr or a tuple)


class Evaluation:
    """One call bound to a formula: symbols from shapes, helpers that read data."""

    def __init__(self, compiled: Compiled, args: list, kwargs: Dict[str, Any],
                 reader: Callable[[Arr], Optional[ReadInt]]):
        self.compiled = compiled
        self.reader = reader
        self.exact = compiled.formula.exact
        self.notes: List[str] = []
        self.env: Dict[str, Any] = dict(_SAFE_BUILTINS)
        self.env.update(nodes=self.nodes, size=_size, length=_length, itemsize=_itemsize,
                        linalg=_linalg_dtype, einsum=_einsum_shape, nnz=_nnz,
                        dense=_is_dense, maxplus1=self.maxplus1, grid=_grid,
                        len_graph=_graph_nodes, tril_count=_tril_count, dtype=_dtype,
                        reduced=_reduced, ndim=_ndim, side=_square_side,
                        given=lambda name: name in self.given)
        self.arrays: List[Any] = []
        self.given: set = set()
        self._bind(args, kwargs)
        self.given |= {name for name, _, _, _ in self.compiled.params[:len(args)]}

    def _bind(self, args: list, kwargs: Dict[str, Any]) -> None:
        position = 0
        for name, dims, default, star in self.compiled.params:
            if star:
                self.env[name] = tuple(args[position:])
                self.arrays.extend(a for a in args[position:] if isinstance(a, Arr))
                position = len(args)
                continue
            if position < len(args):
                value = args[position]
                position += 1
            elif name in kwargs:
                value = kwargs.pop(name)
                self.given.add(name)
            elif default is not _REQUIRED:
                value = default
            else:
                raise LookupError(name)
            if dims is not None:
                self._shape(value, dims)
            if isinstance(value, (Arr, SparseMat)):
                self.arrays.append(value)
            self.env[name] = value
        if position < len(args) or (kwargs and not self.compiled.rest):
            raise LookupError("unexpected arguments")
        self.passed = set(kwargs) | {name for name, _, _, _ in
                                     self.compiled.params[:position]}

    def _shape(self, value: Any, dims: Tuple[str, ...]) -> None:
        shape = getattr(value, "shape", None)
        if not isinstance(shape, tuple) or len(shape) != len(dims):
            raise LookupError("shape")
        for dim, size in zip(dims, shape):
            if dim.isdigit():
                if int(dim) != size:
                    raise LookupError("dim")
            elif dim != "_":
                if self.env.get(dim, size) != size:
                    raise LookupError("dim")
                self.env[dim] = size

    # -- helpers the expressions call ---------------------------------------------------
    def maxplus1(self, value: Any) -> int:
        """max + 1 of an index array: read where it can be, else not known."""
        read = self.reader(value) if isinstance(value, Arr) else None
        if read is None:
            if isinstance(value, Arr) and value.num_nodes is not None:
                self.exact = False
                return value.num_nodes
            raise LookupError("not readable")
        self.notes.append(read.note)
        return read + 1

    def nodes(self, edge_index: Any, num_nodes: Any = None) -> int:
        """PyG's maybe_num_nodes: num_nodes if given, else edge_index.max() + 1."""
        if isinstance(num_nodes, int) and not isinstance(num_nodes, bool):
            return num_nodes
        return self.maxplus1(edge_index)

    def run(self) -> Outcome:
        env = self.env
        for symbol, code in self.compiled.where:
            env[symbol] = eval(code, env)  # our own constants only
        results, total, views = [], 0, []
        lib = "torch" if self.compiled.formula.path.split(".")[0] in ("torch", "torch_geometric") \
            else "numpy"
        device = next((a.device for a in self.arrays if isinstance(a, Arr)), "cpu")
        for name, dtype_text, dims, condition in self.compiled.results:
            if condition is not None and not eval(condition, env):
                continue
            dtype = canonical_dtype(dtype_text) or env.get(dtype_text)
            shape = []
            for code in dims:
                value = eval(code, env)
                shape.extend(value if isinstance(value, tuple) else (value,))
            if not isinstance(dtype, str) or not all(isinstance(d, int) and d >= 0
                                                     for d in shape):
                raise LookupError("result")
            arr = Arr(lib, tuple(int(d) for d in shape), dtype, device if lib == "torch"
                      else "cpu", estimated=not self.exact)
            if name.startswith("~"):  # a view of an input: returned, not allocated
                views.append(arr)
                continue
            env[name] = arr.nbytes
            total += arr.nbytes
            results.append((name, arr))
        env["results"] = total
        peak = int(eval(self.compiled.peak, env))
        exact = self.exact and not any(getattr(a, "estimated", False) for a in self.arrays)
        what = self.compiled.formula.what.format(**{k: v for k, v in env.items()
                                                    if isinstance(v, (int, str))})
        returns = self.compiled.formula.returns
        as_tuple = returns == "tuple" or (returns == "auto" and len(results) > 1) or \
            (returns == "tuple_if_uv" and len(results) > 1) or \
            (returns == "with_attr" and "edge_attr" in self.given)
        value = tuple(arr for _, arr in results) if as_tuple else \
            (results[0][1] if results else (views[0] if views else None))
        if returns in ("pair", "with_attr") and as_tuple or returns == "pair":
            value = (results[0][1], None) if results else None
        return Outcome(results, max(peak, total), total, exact, what, self.notes, value)


def evaluate(formula: Formula, args: list, kwargs: Dict[str, Any], reader) -> Optional[Outcome]:
    try:
        return Evaluation(formula.compile(), list(args), dict(kwargs), reader).run()
    except Exception:  # an argument it cannot size, an unknown value, a mismatch
        return None


# -- helpers ----------------------------------------------------------------------------
def _size(value: Any) -> int:
    if isinstance(value, (Arr, SparseMat)) and value.shape is not None:
        return math.prod(value.shape)
    if isinstance(value, Seq) and value.count is not None:
        return value.count  # a range or list as array_like
    raise LookupError("size")


def _dtype(value: Any) -> str:
    """An array's dtype; a range or list of ints becomes int64 (NumPy's default int)."""
    if isinstance(value, (Arr, SparseMat)):
        return value.dtype
    if isinstance(value, Seq):
        return "int64"
    raise LookupError("dtype")


def _ndim(value: Any) -> int:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return len(shape)
    raise LookupError("ndim")


def _reduced(value: Any, axis: Any, keepdims: Any) -> tuple:
    """The shape left after reducing `value` over `axis` (None: everything)."""
    shape = value.shape
    if axis is None:
        return (1,) * len(shape) if keepdims else ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else d for i, d in enumerate(shape)
                 if keepdims or i not in axes)


def _square_side(count: int) -> int:
    """scipy's squareform: the n whose n * (n - 1) / 2 pairs a condensed matrix holds."""
    side = (1 + math.isqrt(1 + 8 * count)) // 2
    if side * (side - 1) // 2 != count:
        raise LookupError("not a condensed matrix")
    return side


def _graph_nodes(value: Any) -> int:
    count = getattr(value, "num_nodes", None)
    if isinstance(count, int):
        return count
    raise LookupError("graph")


def _tril_count(n: int, k: int, m: int) -> int:
    """How many (i, j) with 0 <= i < n, 0 <= j < m and j <= i + k: row i holds
    min(max(i + k + 1, 0), m) of them, an arithmetic series between two clamps."""
    low = min(max(-k, 0), n)              # rows before it hold nothing
    high = min(max(m - k - 1, low), n)    # rows from it on are full
    series = (high - low) * ((low + k + 1) + (high - 1 + k + 1)) // 2
    return series + (n - high) * m


def _grid(arrays: tuple, indexing: Any) -> tuple:
    """meshgrid's output shape: the sizes in order, the first two swapped for 'xy'."""
    sizes = [_size(a) for a in arrays]
    if indexing == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return tuple(sizes)


def _length(value: Any) -> int:
    if isinstance(value, tuple):
        return len(value)
    if isinstance(value, Seq) and value.count is not None:
        return value.count
    if isinstance(value, Arr) and value.shape:
        return value.shape[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return 1  # a single source node
    raise LookupError("length")


def _itemsize(dtype: Any) -> int:
    name = dtype.dtype if isinstance(dtype, (Arr, SparseMat)) else dtype
    return ITEMSIZE[name]


def _nnz(value: Any) -> int:
    if isinstance(value, SparseMat) and value.nnz is not None:
        return value.nnz
    raise LookupError("nnz")


def _is_dense(value: Any) -> bool:
    return isinstance(value, Arr)


def _linalg_dtype(value: Any) -> str:
    """NumPy/SciPy LAPACK results: float32 and complex stay, everything else float64."""
    dtype = value.dtype
    return dtype if dtype in ("float32", "float64", "complex64", "complex128") else "float64"


def _einsum_shape(subscripts: Any, operands: tuple) -> tuple:
    """The output shape of an einsum, from its subscripts and operand shapes."""
    if not isinstance(subscripts, str) or "." in subscripts:
        raise LookupError("einsum")
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise LookupError("einsum operands")
    sizes: Dict[str, int] = {}
    for term, operand in zip(terms, operands):
        shape = getattr(operand, "shape", None)
        if not isinstance(shape, tuple) or len(shape) != len(term):
            raise LookupError("einsum shape")
        for letter, size in zip(term, shape):
            if sizes.get(letter, size) not in (size, 1) and size != 1:
                raise LookupError("einsum mismatch")
            sizes[letter] = max(sizes.get(letter, 1), size)
    if not arrow:
        counts = {letter: inputs.count(letter) for letter in sizes}
        output = "".join(sorted(letter for letter, count in counts.items() if count == 1))
    return tuple(sizes[letter] for letter in output)


# -- the table ---------------------------------------------------------------------------
# PyG's coalesce (index_sort of row * N + col, then a gather and a de-duplicating mask):
# idx 8E, sorted values 8E and perm 8E, the permuted edge_index 16E, the mask 1E, and where
# duplicates exist the masked copy (16E) with its int64 index (8E): 57 bytes per edge.
PYG = "torch_geometric.utils"
TABLE: Tuple[Formula, ...] = (
    Formula(f"{PYG}.coalesce",
            "edge_index[2, E], edge_attr=None, num_nodes=None, reduce='sum', "
            "is_sorted=False, sort_by_row=True",
            ("edge_index: int64[2, E]",),
            peak="(33 if is_sorted else 57) * E",
            what="coalesce sorts and de-duplicates {E:,} edges", kind="graph_utility",
            exact=False, returns="with_attr"),
    # to_undirected: both directions concatenated (row and col, 16E each), stacked (32E),
    # then coalesced as 2E edges.
    Formula(f"{PYG}.to_undirected",
            "edge_index[2, E], edge_attr=None, num_nodes=None, reduce='add'",
            ("edge_index: int64[2, 2 * E]",),
            peak="64 * E + 57 * 2 * E",
            what="to_undirected doubles {E:,} edges, then sorts and de-duplicates them",
            kind="graph_utility", exact=False, returns="with_attr"),
    # add_self_loops: arange(N) repeated into a 2 x N loop index (16N), concatenated.
    Formula(f"{PYG}.add_self_loops",
            "edge_index[2, E], edge_attr=None, fill_value=None, num_nodes=None",
            ("edge_index: int64[2, E + N]",),
            where=(("N", "nodes(edge_index, num_nodes)"),),
            peak="results + 16 * N",
            what="add_self_loops adds N = {N:,} loops to {E:,} edges", kind="graph_utility",
            returns="pair"),
    # remove_self_loops: a mask (1E), its int64 index (8E), the kept edges (16E).
    Formula(f"{PYG}.remove_self_loops", "edge_index[2, E], edge_attr=None",
            ("edge_index: int64[2, E]",), peak="25 * E",
            what="remove_self_loops copies {E:,} edges", kind="graph_utility", exact=False,
            returns="pair"),
    # scipy.sparse.csgraph: distances are float64, predecessors int32, one row per source.
    Formula("scipy.sparse.csgraph.dijkstra",
            "csgraph[N, N], directed=True, indices=None, return_predecessors=False, "
            "unweighted=False, limit=inf, min_only=False",
            ("dist: float64[N] if min_only", "dist: float64[M, N] if not min_only",
             "pred: int32[N] if min_only and return_predecessors",
             "pred: int32[M, N] if return_predecessors and not min_only",
             "sources: int32[N] if min_only and return_predecessors"),
            where=(("M", "length(indices) if indices is not None else N"),),
            what="dijkstra: shortest-path lengths from {M:,} sources to {N:,} nodes",
            kind="graph_algorithm",
            also=("scipy.sparse.csgraph.bellman_ford", "scipy.sparse.csgraph.johnson")),
    # Floyd-Warshall works on a dense N x N float64 copy (the result) plus an N x N
    # boolean mask of the missing edges; predecessors add an int32 N x N and a mask.
    Formula("scipy.sparse.csgraph.floyd_warshall",
            "csgraph[N, N], directed=True, return_predecessors=False, unweighted=False, "
            "overwrite=False",
            ("dist: float64[N, N]", "pred: int32[N, N] if return_predecessors"),
            peak="results + N * N * (2 if return_predecessors else 1)",
            what="floyd_warshall: a dense {N:,} x {N:,} distance matrix",
            kind="graph_algorithm"),
    # shortest_path(method='auto') runs Floyd-Warshall on dense or denser-than-1/4 graphs
    # without indices, Dijkstra (or Johnson) otherwise.
    Formula("scipy.sparse.csgraph.shortest_path",
            "csgraph[N, N], method='auto', directed=True, return_predecessors=False, "
            "unweighted=False, overwrite=False, indices=None",
            ("dist: float64[M, N]", "pred: int32[M, N] if return_predecessors"),
            where=(("M", "length(indices) if indices is not None else N"),
                   ("FW", "method == 'FW' or (method == 'auto' and indices is None and "
                          "(dense(csgraph) or nnz(csgraph) >= N * N / 4))")),
            peak="results + (N * N * (2 if return_predecessors else 1) if FW else 0)",
            what="shortest_path: lengths from {M:,} sources to {N:,} nodes",
            kind="graph_algorithm"),
    # NumPy's svd gufunc copies its input (M x N), keeps LAPACK's Fortran buffers for U
    # and Vh beside the returned arrays (so both twice), and gesdd's workspace ~4 K^2.
    Formula("numpy.linalg.svd",
            "a[M, N], full_matrices=True, compute_uv=True, hermitian=False",
            ("U: T[M, M if full_matrices else K] if compute_uv", "S: T[K]",
             "Vh: T[N if full_matrices else K, N] if compute_uv"),
            where=(("K", "min(M, N)"), ("T", "linalg(a)"), ("s", "itemsize(T)")),
            peak="S + M * N * s + ((2 * (U + Vh) + 4 * K * K * s) if compute_uv else 0)",
            what="svd of a {M:,} x {N:,} matrix", kind="linalg",
            returns="tuple_if_uv"),
    # SciPy's svd: a copy of a (overwrite_a=False), the results and gesdd's workspace.
    Formula("scipy.linalg.svd",
            "a[M, N], full_matrices=True, compute_uv=True, overwrite_a=False, "
            "check_finite=True, lapack_driver='gesdd'",
            ("U: T[M, M if full_matrices else K] if compute_uv", "S: T[K]",
             "Vh: T[N if full_matrices else K, N] if compute_uv"),
            where=(("K", "min(M, N)"), ("T", "linalg(a)"), ("s", "itemsize(T)")),
            peak="results + (0 if overwrite_a else M * N * s) + "
                 "(4 * K * K * s if compute_uv else 0)",
            what="svd of a {M:,} x {N:,} matrix", kind="linalg", returns="tuple_if_uv"),
    # pinv is an svd(full_matrices=False) followed by a product of the factors.
    Formula("numpy.linalg.pinv", "a[M, N], rcond=None, hermitian=False, rtol=None",
            ("pinv: T[N, M]",),
            where=(("K", "min(M, N)"), ("T", "linalg(a)"), ("s", "itemsize(T)")),
            peak="max(2 * (M * K + K * N) * s + M * N * s + 4 * K * K * s, "
                 "(M * K + K * N) * s + results)",
            what="pinv of a {M:,} x {N:,} matrix (through its svd)", kind="linalg"),
    # inv solves A X = I: the input's buffer, the identity/solution buffer and the result.
    Formula("numpy.linalg.inv", "a[N, N]", ("inv: T[N, N]",),
            where=(("T", "linalg(a)"),), peak="3 * results",
            what="inv of a {N:,} x {N:,} matrix", kind="linalg"),
    # eigh: the input's buffer, the eigenvectors, and syevd's workspace of 2 N^2.
    Formula("numpy.linalg.eigh", "a[N, N], UPLO='L'", ("w: T[N]", "v: T[N, N]"),
            where=(("T", "linalg(a)"), ("s", "itemsize(T)")),
            peak="w + 4 * N * N * s", what="eigh of a {N:,} x {N:,} matrix", kind="linalg",
            returns="tuple"),
    # cov/corrcoef: a float64 copy of the data, then the variables x variables product.
    Formula("numpy.cov", "m[A, B], y=None, rowvar=True, bias=False, ddof=None",
            ("cov: float64[V, V]",),
            where=(("V", "A if rowvar else B"),), peak="results + A * B * 8",
            what="cov of {V:,} variables: a {V:,} x {V:,} matrix", kind="pairwise",
            also=("numpy.corrcoef",)),
    Formula("numpy.einsum", "subscripts, *operands", ("out: T[einsum(subscripts, operands)]",),
            where=(("T", "operands[0].dtype"),),
            what="einsum '{subscripts}'", kind="expansion"),
    Formula("numpy.outer", "a, b, out=None", ("out: T[size(a), size(b)]",),
            where=(("T", "a.dtype if a.dtype == b.dtype else 'float64'"),),
            what="outer product", kind="pairwise"),
    Formula("numpy.kron", "a[M, N], b[P, Q]", ("out: T[M * P, N * Q]",),
            where=(("T", "a.dtype if a.dtype == b.dtype else 'float64'"),),
            what="Kronecker product", kind="expansion"),
    # meshgrid copies each grid (copy=True) unless sparse.
    Formula("numpy.meshgrid", "*xi, copy=True, sparse=False, indexing='xy'",
            ("g1: T[G] if copy and not sparse", "g2: T[G] if copy and not sparse and L > 1",
             "g3: T[G] if copy and not sparse and L > 2"),
            where=(("T", "dtype(xi[0])"), ("L", "length(xi)"), ("G", "grid(xi, indexing)")),
            what="meshgrid copies each of its {L} grids", kind="expansion", returns="tuple"),
    # tril/triu_indices: an n x m boolean mask, then two int64 index arrays.
    Formula("numpy.tril_indices", "n, k=0, m=None",
            ("rows: int64[C]", "cols: int64[C]"),
            where=(("W", "n if m is None else m"), ("C", "tril_count(n, k, W)")),
            peak="results + n * W", what="tril_indices of a {n:,} x {W:,} matrix",
            kind="expansion", returns="tuple"),
    Formula("numpy.triu_indices", "n, k=0, m=None",
            ("rows: int64[C]", "cols: int64[C]"),
            where=(("W", "n if m is None else m"), ("C", "n * W - tril_count(n, k - 1, W)")),
            peak="results + n * W", what="triu_indices of a {n:,} x {W:,} matrix",
            kind="expansion", returns="tuple"),
    # torch.combinations: a boolean N^r mask (with a comparison temporary), and per
    # masked_select an int64 copy of the mask and its prefix sum; r selections of C
    # elements, then their stack.
    Formula("torch.combinations", "input[N], r=2, with_replacement=False",
            ("out: T[C, r]",),
            where=(("C", "comb(N + r - 1, r) if with_replacement else comb(N, r)"),
                   ("T", "input.dtype"), ("s", "itemsize(T)")),
            peak="max(18 * N ** r + C * s * r, N ** r + 2 * results)",
            what="torch.combinations of {N:,} elements, r={r}", kind="expansion"),
    # one_hot with num_classes=-1 counts the classes as input.max() + 1.
    Formula("torch.nn.functional.one_hot", "tensor, num_classes=-1",
            ("out: int64[tensor.shape, C]",),
            where=(("C", "num_classes if num_classes > 0 else maxplus1(tensor)"),),
            what="one_hot with {C:,} classes", kind="expansion"),
    # dropout_edge: a uniform draw per edge (float32) compared into the mask, then the
    # kept edges through the mask's int64 index (the draw is gone by then). How many are
    # kept is drawn: (1 - p) E expected.
    Formula(f"{PYG}.dropout_edge",
            "edge_index[2, E], p=0.5, force_undirected=False, training=True",
            ("edge_index: int64[2, K]", "mask: bool[E]"),
            where=(("K", "int(E * (1 - p)) if training else E"),),
            peak="max(5 * E, results + 8 * K)",
            what="dropout_edge keeps about {K:,} of {E:,} edges", kind="graph_utility",
            exact=False, returns="tuple"),
    # np.linalg.norm along an axis squares every element first (x * x), then reduces.
    Formula("numpy.linalg.norm", "x, ord=None, axis=None, keepdims=False",
            ("norm: T[reduced(x, axis, keepdims)]",),
            where=(("T", "linalg(x)"), ("s", "itemsize(T)")),
            peak="results + (size(x) * s if axis is not None else 0)",
            what="norm", kind="elementwise"),
    # np.diag of a vector builds the square matrix (of a matrix it returns a view).
    Formula("numpy.diag", "v, k=0",
            ("d: T[D, D] if ndim(v) == 1", "~diagonal: T[min(v.shape)] if ndim(v) == 2"),
            where=(("T", "dtype(v)"), ("D", "size(v) + max(k, -k)")),
            what="np.diag: a {D:,} x {D:,} matrix from a vector", kind="expansion",
            also=("numpy.diagflat",)),
    # scipy.spatial.distance: float64 distances, M_A x M_B (cdist) or condensed (pdist);
    # squareform turns n (n - 1) / 2 distances into an n x n matrix.
    Formula("scipy.spatial.distance.cdist", "XA[MA, DA], XB[MB, DB], metric='euclidean', **kw",
            ("d: float64[MA, MB]",), what="cdist: {MA:,} x {MB:,} distances",
            kind="pairwise"),
    Formula("scipy.spatial.distance.pdist", "X[M, D], metric='euclidean', **kw",
            ("d: float64[M * (M - 1) // 2]",), what="pdist: the distances of {M:,} points",
            kind="pairwise"),
    Formula("scipy.spatial.distance.squareform", "X, force='no', checks=True",
            ("square: T[side(size(X)), side(size(X))] if ndim(X) == 1",),
            where=(("T", "dtype(X)"),), what="squareform: an n x n matrix from pairs",
            kind="pairwise"),
    # networkx: to_numpy_array, then SciPy's Floyd-Warshall on it and its result.
    Formula("networkx.floyd_warshall_numpy", "G, nodelist=None, weight='weight'",
            ("dist: float64[N, N]",),
            where=(("N", "length(nodelist) if nodelist is not None else len_graph(G)"),),
            peak="3 * results", what="floyd_warshall_numpy: a dense {N:,} x {N:,} matrix",
            kind="graph_algorithm"),
)


def keys_of(path: str) -> Tuple[str, ...]:
    """The rule-table keys a dotted path is looked up by (values.Ref.keys)."""
    parts = path.split(".")
    keys = [f"{parts[0]}.{parts[-1]}"]
    if len(parts) >= 3:
        keys.insert(0, f"{parts[0]}.{parts[-2]}.{parts[-1]}")
    return tuple(keys)
