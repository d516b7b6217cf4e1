"""Live namespace objects → abstract values, without running any user code.

Only objects of known types are looked into, and a type is known only by identity with a
class fetched from an already imported module (sys.modules): nothing is imported here.
Attributes are read through C-level descriptors or the instance's `__dict__` slot (see
sizes/safe.py), so a property, `__getattr__` or `__torch_function__` never runs; ints,
tuples and lists are read only when their type is exactly the builtin one. Anything else
resolves to UNKNOWN."""
from __future__ import annotations

import functools
import sys
import types
from typing import Any, Dict, Optional

from ..sizes.arrays import NumpyKit
from .budget import Budget, OutOfTime
from .reads import READER
from ..sizes.safe import instance_dict, is_sub, module_attr, type_name
from ..sizes.torchlike import TorchKit, tensor_parts
from .values import (UNKNOWN, Arr, Device, DType, Graph, GraphList, Hetero, Loader, Model,
                     ModelClass, NxGraph, Record, Ref, Seq, SparseMat, TensorSet,
                     canonical_dtype)

FAMILIES = ("torch", "numpy", "scipy", "networkx", "torch_geometric", "copy", "math")
MAX_SEQ_READ = 1000    # items of a list read one by one; longer lists are unknown
MAX_ITEMS_READ = 2000  # items of all lists per predict call: past it, lists are counts
MAX_GRAPHS_READ = 100  # graphs of a list read one by one; the rest extrapolated
MAX_INT_DIGITS = 30    # a huge literal int is not a size anyone allocates
_MODULE_DICT = types.ModuleType.__dict__["__dict__"].__get__

# Where the functions and classes users import by name live: identity with these
# objects is how a bare name (`randn`, `to_dense_adj`, `Batch`) is recognised.
_EXPORTS = {
    "torch": ("torch", "torch.nn.functional", "torch.utils.data", "torch.nn"),
    "numpy": ("numpy", "numpy.random", "numpy.linalg"),
    "scipy": ("scipy.sparse", "scipy.sparse.csgraph", "scipy.linalg",
              "scipy.spatial.distance"),
    "networkx": ("networkx",),
    "torch_geometric": ("torch_geometric.utils", "torch_geometric.data",
                        "torch_geometric.loader"),
    "copy": ("copy",),
    "math": ("math",),
}


def module_name(obj: Any) -> Optional[str]:
    """The name of a library module the user imported, verified by identity."""
    try:
        if not is_sub(type(obj), types.ModuleType):
            return None
        namespace = _MODULE_DICT(obj)
        name = namespace.get("__name__") if type(namespace) is dict else None
        if type(name) is not str or name.split(".", 1)[0] not in FAMILIES:
            return None
        return name if sys.modules.get(name) is obj else None
    except Exception:
        return None


class Resolver:
    """Per-predict-call reader of the live namespace (kits fetched once)."""

    def __init__(self, rule_names, budget: Optional[Budget] = None):
        self.budget = budget if budget is not None else Budget()
        self._rule_names = rule_names
        self._exported: Optional[Dict[int, str]] = None  # made on first use (_identities)
        self._cache: Dict[int, Any] = {}
        self._items_read = 0
        self._readable: Dict[int, Any] = {}  # Arr.origin -> the live tensor or array

    # The kits and the classes are looked up on first use, as _identities is: a cell
    # that reads nothing of the namespace (`pass`, `x = 1`, most short cells) never
    # pays for them, and the pre-run check is on every cell's path.
    @functools.cached_property
    def torch(self) -> Optional[TorchKit]:
        return TorchKit.load() if "torch" in sys.modules else None

    @functools.cached_property
    def numpy(self) -> Optional[NumpyKit]:
        return NumpyKit.load() if "numpy" in sys.modules else None

    @functools.cached_property
    def _classes(self) -> Dict[str, Any]:
        return {
            "sparse": module_attr("scipy.sparse", "_spbase")
            or _first_class("scipy.sparse._base", "_spbase"),
            "nx": module_attr("networkx", "Graph"),
            "data": _first_class("torch_geometric.data.data", "BaseData"),
            "dataset": _first_class("torch_geometric.data.dataset", "Dataset"),
            "loader": _first_class("torch.utils.data.dataloader", "DataLoader"),
            "module": _first_class("torch.nn.modules.module", "Module"),
            "conv": _first_class("torch_geometric.nn.conv.message_passing", "MessagePassing"),
            "tensorset": _first_class("torch.utils.data.dataset", "TensorDataset"),
            "argparse": _first_class("argparse", "Namespace"),
            "size": _first_class("torch", "Size"),
            "device": _first_class("torch", "device"),
            "dtype": _first_class("torch", "dtype"),
            "npdtype": _first_class("numpy", "dtype"),
            "generic": _first_class("numpy", "generic"),
        }

    @property
    def _identities(self) -> Dict[int, str]:
        """The libraries' functions the rules know, by identity. Made only when a value
        is read: a cell that names nothing of the namespace (most short cells) never
        pays for it."""
        if self._exported is None:
            self._exported = self._exports(self._rule_names)
        return self._exported

    @staticmethod
    def _exports(rule_names) -> Dict[int, str]:
        found: Dict[int, str] = {}
        for family, modules in _EXPORTS.items():
            names = rule_names.get(family, ())
            for mod_name in modules:
                module = sys.modules.get(mod_name)
                if module is None:
                    continue
                try:
                    namespace = _MODULE_DICT(module)
                except Exception:
                    continue
                for name in names:
                    if "." in name:  # Class.method: the class is what gets imported
                        name = name.split(".", 1)[0]
                    obj = namespace.get(name)
                    if obj is not None and id(obj) not in found and type(obj) not in (int, str) \
                            and not is_sub(type(obj), types.ModuleType):
                        found[id(obj)] = f"{family}.{name}"
        return found

    def value(self, obj: Any, depth: int = 0) -> Any:
        key = id(obj)
        if key in self._cache:
            return self._cache[key][1]
        self.budget.check()  # a namespace can hold a million nested ints
        try:
            result = self._value(obj, depth)
        except OutOfTime:
            raise
        except Exception:
            result = UNKNOWN
        self._cache[key] = (obj, result)  # holding obj keeps its id from being reused
        return result

    def _value(self, obj: Any, depth: int) -> Any:
        tp = type(obj)
        if tp is bool or tp is float or tp is str or obj is None:
            return obj
        if tp is int:
            return obj if obj.bit_length() < 100 else UNKNOWN
        if tp is tuple or tp is list:
            return self._sequence(obj, depth)
        if tp is dict:
            return self.mapping(obj, depth)
        if self._classes["size"] is not None and is_sub(tp, self._classes["size"]):
            return tuple(int(d) for d in tuple.__iter__(obj))
        path = self._identities.get(id(obj))
        if path is not None:
            return Ref(path)
        name = module_name(obj)
        if name is not None:
            return Ref(name)
        kit = self.torch
        if kit is not None:
            if is_sub(tp, kit.Tensor):
                return self.tensor(obj)
            if is_sub(tp, self._classes["dtype"]):
                return DType(canonical_dtype(kit.dtype_name(obj)) or "float32")
            if is_sub(tp, self._classes["device"]):
                return Device(normal_device(kit.device_name(obj)))
            if is_sub(tp, self._classes["module"]):
                return self.model(obj)
            if is_sub(tp, self._classes["loader"]):
                return self.loader(obj, depth)
            if is_sub(tp, self._classes["tensorset"]):
                return self.tensor_set(obj)
            if is_sub(tp, type) and is_sub(obj, self._classes["module"]):
                return ModelClass(type_name(obj))
        if self.numpy is not None:
            if is_sub(tp, self.numpy.ndarray):
                return self.ndarray(obj)
            if is_sub(tp, self._classes["npdtype"]):
                return DType(canonical_dtype(self.numpy.dtype_name(obj)) or "float64")
            if is_sub(tp, type) and is_sub(obj, self._classes["generic"]):
                return _numpy_scalar_type(obj)
        if is_sub(tp, self._classes["data"]):
            return self.graph(obj)
        if is_sub(tp, self._classes["dataset"]):
            return self.dataset(obj)
        if is_sub(tp, self._classes["sparse"]):
            return self.sparse(obj)
        if is_sub(tp, self._classes["nx"]):
            nodes = (instance_dict(obj) or {}).get("_node")
            return NxGraph(len(nodes) if type(nodes) is dict else None)
        if obj is float_type or obj is int_type or obj is bool_type:
            return DType({float: "float64", int: "int64", bool: "bool"}[obj])
        if tp is types.SimpleNamespace or (self._classes["argparse"] is not None
                                           and tp is self._classes["argparse"]):
            return self.record(obj, depth)
        return UNKNOWN

    def mapping(self, obj: dict, depth: int) -> Any:
        """A plain dict with string keys (split_idx, a loaded data_dict): its values by
        key, each resolved like any value (at most MAX_SEQ_READ keys, four levels)."""
        if len(obj) > MAX_SEQ_READ or depth >= 4 or \
                self._items_read + len(obj) > MAX_ITEMS_READ:
            return UNKNOWN
        self._items_read += len(obj)
        fields = []
        for key, item in list(dict.items(obj)):
            if type(key) is str:
                fields.append((key, self.value(item, depth + 1)))
        return Record(tuple(fields))

    def record(self, obj: Any, depth: int) -> Any:
        """An argparse.Namespace or SimpleNamespace: its plain values (numbers, strings,
        tuples of them), read from the instance dict; anything else is unknown."""
        fields = instance_dict(obj)
        if fields is None or len(fields) > 200 or depth > 2:
            return UNKNOWN
        plain = []
        for key, item in list(fields.items()):
            if type(key) is str and (item is None or type(item) in (int, float, str, bool,
                                                                      tuple)):
                value = self.value(item, depth + 1)
                plain.append((key, value))
        return Record(tuple(plain))

    # -- arrays ---------------------------------------------------------------------
    def tensor(self, obj: Any) -> Any:
        kit = self.torch
        with kit.plain():
            shape = tuple(int(d) for d in kit.shape(obj))
            dtype = canonical_dtype(kit.dtype_name(kit.dtype(obj))) or "float32"
            device = kit.device_name(kit.device(obj))
            if kit.layout(obj) is not kit.strided:
                return self.torch_sparse(obj, shape, dtype, device)
        # A meta tensor in the namespace stands for a tensor of that shape: that is how
        # one sketches a 60k x 60k adjacency without the memory (and how tests do).
        arr = Arr("torch", shape, dtype, "cpu" if device == "meta" else normal_device(device))
        return self._remember(arr, obj) if device == "cpu" else arr

    def torch_sparse(self, obj: Any, shape, dtype: str, device: str) -> Any:
        """A sparse tensor: its dense shape, and the non-zeros its values hold."""
        kit = self.torch
        try:
            values = tensor_parts(kit, obj)[-1]
            nnz = int(kit.shape(values)[0]) if kit.shape(values) else None
        except Exception:
            nnz = None
        return SparseMat(shape, dtype, nnz, lib="torch",
                         device="cpu" if device == "meta" else normal_device(device))

    def ndarray(self, obj: Any) -> Any:
        kit = self.numpy
        shape = tuple(int(d) for d in kit.shape(obj))
        dtype = canonical_dtype(kit.dtype_name(kit.dtype(obj)))
        return self._remember(Arr("numpy", shape, dtype), obj) if dtype else UNKNOWN

    def _remember(self, arr: Arr, obj: Any) -> Arr:
        """An integer array whose values a rule may read (reads.py decides if it can)."""
        if not READER.readable(arr.numel or 0, arr.dtype):
            return arr
        key = len(self._readable) + 1
        self._readable[key] = obj
        return arr.but(origin=key)

    def read_max(self, arr: Arr) -> Optional[int]:
        """The largest value of the live array `arr` stands for, where cheap to read."""
        obj = self._readable.get(arr.origin) if arr.origin is not None else None
        if obj is None:
            return None
        if arr.lib == "torch" and self.torch is not None:
            return READER.tensor_max(self.torch, obj, arr.numel, self.budget)
        if arr.lib == "numpy" and self.numpy is not None:
            return READER.array_max(self.numpy, obj, arr.numel, self.budget)
        return None

    def sparse(self, obj: Any) -> Any:
        fields = instance_dict(obj) or {}
        shape = fields.get("_shape")
        if type(shape) is not tuple or not all(type(d) is int for d in shape):
            shape = None
        data = fields.get("data")
        dtype, nnz = "float64", None
        if self.numpy is not None and data is not None and is_sub(type(data), self.numpy.ndarray):
            arr = self.ndarray(data)
            if isinstance(arr, Arr):
                dtype, nnz = arr.dtype, arr.numel
        return SparseMat(shape, dtype, nnz)

    # -- graphs and loaders -----------------------------------------------------------
    def graph(self, obj: Any) -> Any:
        fields = instance_dict(obj) or {}
        if "_node_store_dict" in fields:
            return self.hetero(fields)
        return self.store(fields.get("_store"))

    def hetero(self, fields: dict) -> Any:
        nodes, edges = fields.get("_node_store_dict"), fields.get("_edge_store_dict")
        if type(nodes) is not dict or type(edges) is not dict:
            return UNKNOWN
        node_stores = tuple((key, self.store(store)) for key, store in list(nodes.items())[:64]
                            if type(key) is str)
        edge_stores = tuple((key, self.store(store)) for key, store in list(edges.items())[:256]
                            if type(key) is tuple and len(key) == 3
                            and all(type(k) is str for k in key))
        if not all(isinstance(g, Graph) for _, g in node_stores + edge_stores):
            return UNKNOWN
        return Hetero(node_stores, edge_stores)

    def store(self, store: Any) -> Any:
        """A Data's (or one HeteroData type's) attributes: its tensors and counts."""
        mapping = (instance_dict(store) or {}).get("_mapping") if store is not None else None
        if type(mapping) is not dict:
            return UNKNOWN
        tensors = []
        explicit_nodes = None
        for key, item in list(mapping.items())[:64]:
            if type(key) is not str:
                continue
            if key == "num_nodes" and type(item) is int:
                explicit_nodes = item
            elif self.torch is not None and is_sub(type(item), self.torch.Tensor):
                arr = self.tensor(item)
                tensors.append((key, arr.but(role=key, origin=arr.origin)))
        by_name = dict(tensors)
        nodes = explicit_nodes
        x = by_name.get("x")
        if nodes is None and x is not None and x.shape:
            nodes = x.shape[0]
        edge_index = by_name.get("edge_index")
        edges = edge_index.shape[1] if edge_index is not None and edge_index.shape \
            and len(edge_index.shape) == 2 else None
        if edge_index is not None:
            tensors = [(k, a.but(num_nodes=nodes, origin=a.origin) if k == "edge_index"
                        else a) for k, a in tensors]
        return Graph(tuple(tensors), nodes, edges)

    def graph_list(self, graphs: list, count: int) -> Any:
        sample = graphs[:MAX_GRAPHS_READ]
        values = [self.value(g) for g in sample]
        if not values or not all(isinstance(v, Graph) for v in values):
            return None
        scale = count / len(values)
        total = sum(v.nbytes for v in values)
        nodes = [v.num_nodes for v in values]
        edges = [v.num_edges for v in values]
        x = values[0].tensor("x")
        return GraphList(
            count, int(total * scale),
            int(sum(nodes) * scale) if None not in nodes else None,
            int(sum(edges) * scale) if None not in edges else None,
            x.shape[1] if x is not None and x.shape and len(x.shape) == 2 else None,
            values[0].device, estimated=scale != 1)

    def dataset(self, obj: Any) -> Any:
        """An InMemoryDataset: its collated `_data` and the `slices` that cut it."""
        fields = instance_dict(obj) or {}
        data = fields.get("_data")
        slices = fields.get("slices")
        if data is None or type(slices) is not dict or self.torch is None:
            return UNKNOWN
        if fields.get("_indices") is not None:
            return UNKNOWN  # a subset: its length would need the index list read
        whole = self.value(data)
        if isinstance(whole, Hetero):
            return GraphList(1, whole.nbytes, whole.num_nodes, whole.num_edges, None,
                             whole.device, whole=whole) if _one_graph(slices, self) \
                else UNKNOWN
        if not isinstance(whole, Graph):
            return UNKNOWN
        count = None
        for item in slices.values():
            if is_sub(type(item), self.torch.Tensor):
                shape = self.tensor(item).shape
                count = shape[0] - 1 if shape else None
                break
        if count is None:
            return UNKNOWN
        x = whole.tensor("x")
        return GraphList(count, whole.nbytes, whole.num_nodes, whole.num_edges,
                         x.shape[1] if x is not None and x.shape and len(x.shape) == 2 else None,
                         whole.device, whole=whole)

    def tensor_set(self, obj: Any) -> Any:
        tensors = (instance_dict(obj) or {}).get("tensors")
        if type(tensors) is not tuple or not tensors or len(tensors) > 16:
            return UNKNOWN
        arrays = tuple(self.value(t) for t in tensors)
        return TensorSet(arrays) if all(isinstance(a, Arr) for a in arrays) else UNKNOWN

    def model(self, obj: Any) -> Model:
        """An nn.Module: the device of its first parameter, and the width each of its
        message-passing layers propagates (walked through `_modules`, at most 200)."""
        conv = self._classes["conv"]
        widths, device, stack, seen = [], None, [obj], 0
        while stack and seen < 200:
            module, seen = stack.pop(), seen + 1
            fields = instance_dict(module) or {}
            if conv is not None and is_sub(type(module), conv):
                width = message_width(type_name(type(module)).rsplit(".", 1)[-1], fields)
                if width:
                    widths.append(width)
            parameters = fields.get("_parameters")
            if device is None and type(parameters) is dict and self.torch is not None:
                for tensor in dict.values(parameters):
                    if tensor is not None and is_sub(type(tensor), self.torch.Tensor):
                        device = normal_device(self.torch.device_name(self.torch.device(tensor)))
                        break
            children = fields.get("_modules")
            if type(children) is dict:
                stack.extend(child for child in reversed(list(dict.values(children)))
                             if child is not None)
        return Model(device or "cpu", tuple(widths))

    def loader(self, obj: Any, depth: int) -> Any:
        fields = instance_dict(obj) or {}
        size = fields.get("batch_size")
        dataset = fields.get("dataset")
        return Loader(size if type(size) is int else None,
                      self.value(dataset, depth + 1) if depth < 3 else UNKNOWN)

    def _sequence(self, obj: Any, depth: int) -> Any:
        count = len(obj)  # exact list/tuple: len is C-level
        if count and depth < 2:
            graphs = self.graph_list(obj, count) if self._classes["data"] is not None \
                and is_sub(type(obj[0]), self._classes["data"]) else None
            if graphs is not None:
                return graphs
        if count > MAX_SEQ_READ or depth >= 4 or self._items_read + count > MAX_ITEMS_READ:
            return Seq(count)
        self._items_read += count
        items = tuple(self.value(item, depth + 1) for item in obj)
        return tuple(items) if type(obj) is tuple else Seq(count, items)


float_type, int_type, bool_type = float, int, bool

# What a PyG layer's messages hold per edge: layers that transform first (x @ W, then
# propagate) send out_channels (times heads for attention), the others send their input.
TRANSFORM_FIRST = ("GCNConv", "ResGatedGraphConv", "GCN2Conv", "GatedGraphConv")
ATTENTION = ("GATConv", "GATv2Conv", "TransformerConv", "SuperGATConv", "FeaStConv")
PROPAGATE_INPUT = ("SAGEConv", "GINConv", "GINEConv", "GraphConv", "ChebConv", "SGConv",
                   "TAGConv", "ARMAConv", "APPNP", "EdgeConv", "LEConv", "ClusterGCNConv")


def message_width(name: str, fields: dict) -> Optional[int]:
    def channels(key):
        value = fields.get(key)
        if type(value) is tuple and value and all(type(v) is int for v in value):
            value = max(value)  # bipartite (in_src, in_dst)
        return value if type(value) is int and value > 0 else None
    width_in, width_out = channels("in_channels"), channels("out_channels")
    heads = fields.get("heads") if type(fields.get("heads")) is int else 1
    if name in TRANSFORM_FIRST:
        return width_out
    if name in ATTENTION:
        return width_out * heads if width_out else None
    if name in PROPAGATE_INPUT:
        return width_in
    known = [w for w in (width_in, width_out) if w]
    return max(known) * heads if known else None


def normal_device(name: str) -> str:
    name = name.strip()
    if name == "cuda":
        return "cuda:0"
    return name


def device_name(value: Any) -> Optional[str]:
    """The device a `device=` argument names ('cuda' is cuda:0, an int a CUDA index)."""
    if isinstance(value, Device):
        return value.name
    if isinstance(value, str) and len(value) < 20:
        return normal_device(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"cuda:{value}"
    return None


def _one_graph(slices: dict, resolver: "Resolver") -> bool:
    """An InMemoryDataset of one graph (OGB_MAG, MovieLens, ...): its slices say 0..n."""
    for item in slices.values():
        if resolver.torch is not None and is_sub(type(item), resolver.torch.Tensor):
            shape = resolver.tensor(item).shape
            return bool(shape) and shape[0] == 2
        if type(item) is dict:
            return _one_graph(item, resolver)
    return False


def _first_class(module: str, attr: str) -> Optional[type]:
    return module_attr(module, attr)


def _numpy_scalar_type(obj: Any) -> Any:
    try:
        name = type.__dict__["__name__"].__get__(obj)
    except Exception:
        return UNKNOWN
    dtype = canonical_dtype(name) if type(name) is str else None
    return DType(dtype) if dtype else UNKNOWN
