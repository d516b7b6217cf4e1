"""The abstract values the predictor computes with: shapes and dtypes, never data.

Everything here is plain data built by the predictor itself; user objects never end up
inside these (only numbers, strings and tuples read from them through safe accessors)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
    "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16,
    "uint16": 2, "uint32": 4, "uint64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64",
    "int": "int32", "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
    "bool_": "bool", "float_": "float64", "int_": "int64", "intp": "int64",
    "single": "float32", "longlong": "int64", "byte": "int8", "ubyte": "uint8",
    "f8": "float64", "f4": "float32", "f2": "float16", "i8": "int64", "i4": "int32",
    "u1": "uint8", "b1": "bool", "?": "bool", "d": "float64", "f": "float32",
}
FLOATS = ("float16", "bfloat16", "float32", "float64")


def canonical_dtype(name: str) -> Optional[str]:
    name = name.rsplit(".", 1)[-1].lstrip("<>=|")
    name = ALIASES.get(name, name)
    return name if name in ITEMSIZE else None


def is_float(dtype: str) -> bool:
    return dtype in FLOATS or dtype.startswith("complex") or dtype.startswith("float8")


def promote(a: str, b: str) -> str:
    """Result dtype of an elementwise op on two arrays (the wider, floats over ints)."""
    if a == b:
        return a
    if is_float(a) != is_float(b):
        return a if is_float(a) else b
    return a if ITEMSIZE.get(a, 0) >= ITEMSIZE.get(b, 0) else b


class ReadInt(int):
    """An int read from data (edge_index.max() + 1), with what it was read from, so that
    a finding sized by it can say so. Arithmetic on it keeps the note (Analysis.intop)."""

    def __new__(cls, value: int, note: str):
        made = int.__new__(cls, value)
        made.note = note
        return made


def read_notes(values) -> list:
    """The notes of the ReadInts among `values` (one level into tuples and lists)."""
    notes = []
    for value in values:
        if isinstance(value, ReadInt):
            notes.append(value.note)
        elif isinstance(value, tuple):
            notes.extend(v.note for v in value if isinstance(v, ReadInt))
        elif isinstance(value, Seq) and value.items:
            notes.extend(v.note for v in value.items if isinstance(v, ReadInt))
    return notes


class Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


class Scalar:
    """Some number whose value is not known (math.sqrt(d) of an unknown d, x.item()):
    enough to know that `tensor / it` is elementwise."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "SCALAR"


SCALAR = Scalar()


@dataclass(frozen=True)
class Arr:
    """A dense array or tensor: lib is "torch" or "numpy"."""
    lib: str
    shape: Optional[Tuple[int, ...]]
    dtype: str
    device: str = "cpu"
    density: Optional[float] = None   # fraction of non-zeros, where known
    high: Optional[int] = None        # exclusive bound on its values (randint), where known
    num_nodes: Optional[int] = None   # for an edge_index: the graph's node count
    strided: bool = False             # an expand/transpose view: .contiguous() copies
    role: str = ""                    # "edge_index", "x" for graph tensors
    estimated: bool = False           # its shape comes from a density, bound or heuristic
    strides: Optional[Tuple[int, ...]] = None  # where known and not contiguous (meta results)
    origin: Optional[int] = field(default=None, compare=False)  # the live array it is
    #                                   (a key of Resolver._readable, for reads.py)

    @property
    def numel(self) -> Optional[int]:
        if self.shape is None:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> Optional[int]:
        n = self.numel
        return None if n is None else n * ITEMSIZE.get(self.dtype, 4)

    def but(self, **changes: Any) -> "Arr":
        """A copy with some fields changed (dataclasses.replace is 10x slower). A changed
        array is no longer the live tensor it came from: `origin` goes unless given."""
        new = object.__new__(Arr)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields["origin"] = None
        fields["strides"] = None
        fields.update(changes)
        return new


@dataclass(frozen=True)
class DType:
    name: str


@dataclass(frozen=True)
class Device:
    name: str


@dataclass(frozen=True)
class Ref:
    """A library module, function or class, by its dotted path ("torch.randn")."""
    path: str

    @property
    def family(self) -> str:
        return self.path.split(".", 1)[0]

    def keys(self) -> Tuple[str, ...]:
        """Rule-table keys: family.parent.name first, then family.name."""
        parts = self.path.split(".")
        if len(parts) < 2:
            return (self.path,)
        keys = []
        if len(parts) >= 3:
            keys.append(f"{parts[0]}.{parts[-2]}.{parts[-1]}")
        keys.append(f"{parts[0]}.{parts[-1]}")
        return tuple(keys)


@dataclass(frozen=True)
class Bound:
    """A method of a value, not yet called: `x.float` in `x.float()`."""
    owner: Any
    name: str


@dataclass(frozen=True)
class Seq:
    """A list/tuple of `count` items; `items` when each is known, else `each` for all."""
    count: Optional[int]
    items: Optional[Tuple[Any, ...]] = None
    each: Any = UNKNOWN
    estimated: bool = False  # counts read from a sample of the items


@dataclass(frozen=True)
class Graph:
    """A PyG Data/Batch: its tensors by attribute name, and counts where known."""
    tensors: Tuple[Tuple[str, Arr], ...]
    num_nodes: Optional[int]
    num_edges: Optional[int]
    estimated: bool = False

    def tensor(self, name: str) -> Optional[Arr]:
        for key, arr in self.tensors:
            if key == name:
                return arr
        return None

    def with_tensor(self, name: str, arr: Any) -> "Graph":
        """The graph after `graph.name = arr` (an attribute set in the cell)."""
        tensors = tuple((k, a) for k, a in self.tensors if k != name)
        if isinstance(arr, Arr):
            tensors += ((name, arr.but(role=name)),)
        nodes = self.num_nodes
        if name == "x" and isinstance(arr, Arr) and arr.shape and nodes is None:
            nodes = arr.shape[0]
        if name == "num_nodes" and isinstance(arr, int) and not isinstance(arr, bool):
            nodes = arr
        return Graph(tensors, nodes, self.num_edges, self.estimated)

    def moved(self, device: str, names: Optional[Tuple[str, ...]] = None) -> "Graph":
        """The graph after .to(device) (of only `names`, as Data.to(device, *attrs))."""
        return Graph(tuple((k, a.but(device=device, origin=a.origin if device == "cpu"
                                     else None) if names is None or k in names else a)
                           for k, a in self.tensors),
                     self.num_nodes, self.num_edges, self.estimated)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes or 0 for _, a in self.tensors)

    @property
    def device(self) -> str:
        for _, arr in self.tensors:
            return arr.device
        return "cpu"


@dataclass(frozen=True)
class Hetero:
    """A PyG HeteroData: a Graph per node type and per edge type."""
    nodes: Tuple[Tuple[str, Graph], ...]
    edges: Tuple[Tuple[Tuple[str, str, str], Graph], ...]

    def store(self, key: Any) -> Optional[Graph]:
        """data['paper'], data['paper', 'cites', 'paper'] or data['cites'] (unique)."""
        for name, graph in self.nodes:
            if name == key:
                return graph
        for triple, graph in self.edges:
            if triple == key:
                return graph
        matches = [graph for triple, graph in self.edges if triple[1] == key]
        return matches[0] if len(matches) == 1 else None

    @property
    def num_nodes(self) -> Optional[int]:
        counts = [g.num_nodes for _, g in self.nodes]
        return sum(counts) if counts and None not in counts else None

    @property
    def num_edges(self) -> Optional[int]:
        counts = [g.num_edges for _, g in self.edges]
        return sum(counts) if counts and None not in counts else None

    @property
    def nbytes(self) -> int:
        return sum(g.nbytes for _, g in self.nodes + self.edges)

    @property
    def device(self) -> str:
        for _, graph in self.nodes + self.edges:
            if graph.tensors:
                return graph.device
        return "cpu"

    def with_store(self, key: str, graph: Graph) -> "Hetero":
        return Hetero(tuple((k, graph if k == key else g) for k, g in self.nodes),
                      tuple((k, graph if k == key else g) for k, g in self.edges))

    def moved(self, device: str) -> "Hetero":
        return Hetero(tuple((k, g.moved(device)) for k, g in self.nodes),
                      tuple((k, g.moved(device)) for k, g in self.edges))


@dataclass(frozen=True)
class GraphList:
    """Several graphs (a list or dataset): totals over all of them."""
    count: int
    total_bytes: int
    total_nodes: Optional[int]
    total_edges: Optional[int]
    feature_dim: Optional[int]
    device: str = "cpu"
    estimated: bool = False
    whole: Any = None   # an InMemoryDataset's collated data (dataset._data): Graph, Hetero


@dataclass(frozen=True)
class TensorSet:
    """A torch TensorDataset: samples are rows of these tensors."""
    arrays: Tuple[Arr, ...]

    @property
    def count(self) -> Optional[int]:
        first = self.arrays[0] if self.arrays else None
        return first.shape[0] if first is not None and first.shape else None


@dataclass(frozen=True)
class Loader:
    batch_size: Optional[int]
    dataset: Any
    batch: Any = UNKNOWN  # what iterating it yields


@dataclass(frozen=True)
class SparseMat:
    """A scipy.sparse matrix or a torch sparse tensor (lib "torch"): what densifying
    it would take."""
    shape: Optional[Tuple[int, ...]]
    dtype: str
    nnz: Optional[int] = None
    lib: str = "scipy"
    device: str = "cpu"


@dataclass(frozen=True)
class Record:
    """An argparse.Namespace or types.SimpleNamespace: its plain values by name."""
    fields: Tuple[Tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        return UNKNOWN


@dataclass(frozen=True)
class LoopInt:
    """`scale * i + offset` for the variable `i` of a `for i in range(...)` loop: so that
    x[i * b:(i + 1) * b] is known to be b rows long (fld's chunked cdist)."""
    name: str
    scale: int = 1
    offset: int = 0
    largest: Optional[int] = None  # i's largest value, where the range is known

    def worst(self) -> Optional["ReadInt"]:
        """The value at i's largest (what a size that grows with i needs at the loop's
        last pass), with a note saying so; None where the range is unknown."""
        if self.largest is None:
            return None
        return ReadInt(self.scale * self.largest + self.offset,
                       f"{self.name} = {self.largest:,} (its largest in the loop)")


@dataclass(frozen=True)
class RangeItem:
    """What iterating a range yields (bound as a LoopInt to a plain loop variable)."""
    largest: Optional[int] = None


RANGE_ITEM = RangeItem()


@dataclass(frozen=True)
class Span:
    """A slice whose bounds are loop-relative but whose length is known."""
    length: int


@dataclass(frozen=True)
class NxGraph:
    num_nodes: Optional[int]


@dataclass(frozen=True)
class Model:
    """An nn.Module instance: where it lives, and the widths its message-passing layers
    propagate (read from the layers, or a guess from a constructor's arguments)."""
    device: str = "cpu"
    widths: Tuple[int, ...] = ()
    guessed: bool = False


@dataclass(frozen=True)
class ModelClass:
    """A class known to be an nn.Module subclass (calling it makes a Model)."""
    name: str


@dataclass
class Ev:
    """An evaluated expression: its value and the bytes it holds as an unbound
    temporary (per device); freed when a consumer is done with it."""
    value: Any
    temp: Dict[str, int] = field(default_factory=dict)
    token: Optional[int] = None  # set when the value is a name that holds cell bytes
