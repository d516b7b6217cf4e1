"""Graphs, batches and loaders: Batch.from_data_list (every graph copied into one batch
plus an int64 batch vector; the originals stay alive), DataLoader with batch_size >=
len(dataset) (one batch holding everything), NeighborLoader (small sampled batches), a
model called on a whole giant graph (message tensors of E x F), and moving a graph to
a device."""
from __future__ import annotations

from ..values import UNKNOWN, Arr, Device, Ev, Graph, GraphList, Loader, Seq, TensorSet
from .common import NotHandled, as_int, device_of, items_of, kw
from .registry import func, method

INT64 = 8


def graphs_of(value):
    """A GraphList for a list of graphs built in the cell or read from the namespace."""
    if isinstance(value, GraphList):
        return value
    items = items_of(value)
    if items and all(isinstance(g, Graph) for g in items):
        x = items[0].tensor("x")
        nodes = [g.num_nodes for g in items]
        edges = [g.num_edges for g in items]
        return GraphList(len(items), sum(g.nbytes for g in items),
                         sum(nodes) if None not in nodes else None,
                         sum(edges) if None not in edges else None,
                         x.shape[1] if x is not None and x.shape and len(x.shape) == 2
                         else None, items[0].device)
    if isinstance(value, Seq) and isinstance(value.each, Graph) and value.count:
        g = value.each
        x = g.tensor("x")
        return GraphList(
            value.count, g.nbytes * value.count,
            g.num_nodes * value.count if g.num_nodes is not None else None,
            g.num_edges * value.count if g.num_edges is not None else None,
            x.shape[1] if x is not None and x.shape and len(x.shape) == 2 else None,
            g.device)
    return None


def batch_graph(graphs: GraphList, share: float) -> Graph:
    """The abstract batch holding `share` of the graphs."""
    nodes = int(graphs.total_nodes * share) if graphs.total_nodes is not None else None
    edges = int(graphs.total_edges * share) if graphs.total_edges is not None else None
    tensors = []
    if nodes is not None and graphs.feature_dim is not None:
        tensors.append(("x", Arr("torch", (nodes, graphs.feature_dim), "float32",
                                 graphs.device, role="x")))
    if edges is not None:
        tensors.append(("edge_index", Arr("torch", (2, edges), "int64", graphs.device,
                                          num_nodes=nodes, role="edge_index")))
    return Graph(tuple(tensors), nodes, edges, estimated=True)


def batch_bytes(graphs: GraphList, share: float) -> int:
    nodes = graphs.total_nodes or 0
    return int((graphs.total_bytes + nodes * INT64) * share) + (graphs.count + 1) * INT64


@func("torch_geometric.Batch.from_data_list")
def from_data_list(an, node, args, kwargs, inputs):
    graphs = graphs_of(args[0] if args else kw(kwargs, "data_list"))
    if graphs is None:
        raise NotHandled()
    size = batch_bytes(graphs, 1.0)
    result = batch_graph(graphs, 1.0)
    ev = an.alloc(node, Arr("torch", (size,), "uint8", graphs.device, role="bytes"), inputs,
                  "batch_copy", f"Batch.from_data_list copies all {graphs.count:,} graphs"
                  f"{' (estimated from a sample)' if graphs.estimated else ''} into one "
                  "batch plus an int64 batch vector, while the originals stay alive",
                  exact=not graphs.estimated)
    ev.value = result
    return ev


@func("torch_geometric.InMemoryDataset.collate", "torch_geometric.collate")
def collate(an, node, args, kwargs, inputs):
    """InMemoryDataset.collate(data_list): every graph's tensors concatenated into one
    Data (plus small slice vectors), while the list stays alive."""
    return _collate(an, node, args[0] if args else kw(kwargs, "data_list"), inputs)


@method("graphs", "collate")
def collate_method(an, node, graphs, args, kwargs, inputs):
    return _collate(an, node, args[0] if args else kw(kwargs, "data_list"), inputs)


def _collate(an, node, data_list, inputs):
    graphs = graphs_of(data_list)
    if graphs is None:
        raise NotHandled()
    size = graphs.total_bytes
    ev = an.alloc(node, Arr("torch", (size,), "uint8", graphs.device, role="bytes"), inputs,
                  "batch_copy", f"collate concatenates all {graphs.count:,} graphs into one "
                  "Data while the list stays alive", exact=not graphs.estimated)
    ev.value = (batch_graph(graphs, 1.0), UNKNOWN)
    return ev


@func("torch.DataLoader", "torch_geometric.DataLoader", "torch_geometric.DenseDataLoader")
def data_loader(an, node, args, kwargs, inputs):
    """Building a loader allocates nothing; its batches do. One batch holding the whole
    dataset (batch_size >= len(dataset)) is a full copy of it, reported here because that
    is the line to change."""
    dataset = args[0] if args else kw(kwargs, "dataset")
    batch_size = as_int(args[1] if len(args) > 1 else kw(kwargs, "batch_size", 1))
    for ev in inputs:
        an.free(ev)
    if isinstance(dataset, (TensorSet, Arr)):
        return tensor_loader(an, node, dataset, batch_size)
    graphs = graphs_of(dataset)
    if graphs is None or batch_size is None or graphs.count == 0:
        return Ev(Loader(batch_size, dataset))
    share = min(1.0, batch_size / graphs.count)
    batch = batch_graph(graphs, share)
    size = batch_bytes(graphs, share)
    full = batch_size >= graphs.count
    what = (f"DataLoader with batch_size={batch_size:,} >= len(dataset)={graphs.count:,}: "
            "one batch copies the whole dataset" if full
            else f"each batch of {batch_size:,} graphs")
    record_transient(an, node, "full_batch_loader" if full else "loader_batch", size,
                     graphs.device, what, exact=full and not graphs.estimated)
    return Ev(Loader(batch_size, dataset, batch))


def tensor_loader(an, node, dataset, batch_size):
    """A torch DataLoader over a TensorDataset (or a tensor): the default collate stacks
    batch_size samples, a copy of that many rows of every tensor."""
    arrays = dataset.arrays if isinstance(dataset, TensorSet) else (dataset,)
    count = arrays[0].shape[0] if arrays and arrays[0].shape else None
    if batch_size is None or count is None or any(a.shape is None for a in arrays):
        return Ev(Loader(batch_size, dataset))
    rows = min(batch_size, count)
    batch = tuple(a.but(shape=(rows,) + a.shape[1:], strided=False) for a in arrays)
    size = sum(b.nbytes or 0 for b in batch)
    full = batch_size >= count
    what = (f"DataLoader with batch_size={batch_size:,} >= len(dataset)={count:,}: its one "
            "batch stacks every sample, a full copy of the dataset" if full
            else f"each batch of {batch_size:,} samples")
    record_transient(an, node, "full_batch_loader" if full else "loader_batch", size,
                     arrays[0].device, what, exact=not any(a.estimated for a in arrays))
    return Ev(Loader(batch_size, dataset,
                     batch if isinstance(dataset, TensorSet) else batch[0]))


def record_transient(an, node, kind, size, device, what, exact):
    """Memory that exists only while something is iterated (a batch): reported against
    what the cell holds, not kept afterwards."""
    an.live[device] += size
    an.record(node, kind, size, an.live[device], device, what, None, "", exact=exact)
    an.live[device] -= size


@func("torch.TensorDataset")
def tensor_dataset(an, node, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    if args and all(isinstance(a, Arr) for a in args):
        return Ev(TensorSet(tuple(args)))
    return Ev(UNKNOWN)


@func("torch_geometric.NeighborLoader", "torch_geometric.LinkNeighborLoader")
def neighbor_loader(an, node, args, kwargs, inputs):
    """Building it allocates nothing, and no batch exceeds the graph: a batch holds
    batch_size seeds and, per hop, each frontier node's sampled neighbours (all of them,
    the graph's average degree, for -1)."""
    data = args[0] if args else kw(kwargs, "data")
    fanouts = items_of(kw(kwargs, "num_neighbors", args[1] if len(args) > 1 else None))
    batch_size = as_int(kw(kwargs, "batch_size", 1))
    for ev in inputs:
        an.free(ev)
    if not isinstance(data, Graph) or not fanouts or batch_size is None \
            or any(as_int(f) is None for f in fanouts):
        return Ev(Loader(batch_size, data))
    degree = (data.num_edges / data.num_nodes) if data.num_nodes and data.num_edges else 1
    nodes, edges, frontier = batch_size, 0, batch_size
    for fanout in fanouts:
        step = int(frontier * (fanout if fanout >= 0 else degree))
        edges += step
        nodes += step
        frontier = step
    if data.num_nodes is not None:
        nodes = min(nodes, data.num_nodes)
    if data.num_edges is not None:
        edges = min(edges, data.num_edges)
    tensors = [("edge_index", Arr("torch", (2, edges), "int64", data.device,
                                  num_nodes=nodes, role="edge_index", estimated=True))]
    for name, arr in data.tensors:
        if name != "edge_index" and arr.shape and data.num_nodes and \
                arr.shape[0] == data.num_nodes:
            tensors.append((name, arr.but(shape=(nodes,) + arr.shape[1:], role=name,
                                          estimated=True)))
    return Ev(Loader(batch_size, data, Graph(tuple(tensors), nodes, edges, estimated=True)))


def model_call(an, node, model, args, kwargs, inputs):
    """A model applied to a whole graph: message passing makes one message per edge, as
    wide as what its widest layer propagates (read from its layers; without them, the
    widest of the features and the widths it was built with), the dominant cost on a
    giant graph. An estimate: what a layer keeps beside its messages varies."""
    values = list(args) + [ev.value for ev in kwargs.values()]
    edge_index = x = None
    for value in values:
        if isinstance(value, Graph):
            edge_index = edge_index or value.tensor("edge_index")
            x = x or value.tensor("x")
        elif isinstance(value, Arr) and value.shape is not None and len(value.shape) == 2:
            if value.role == "edge_index" or (value.shape[0] == 2 and value.dtype == "int64"
                                              and edge_index is None):
                edge_index = value
            elif value.role == "x" or (x is None and value.dtype.startswith("float")):
                x = value
    for ev in inputs:
        an.free(ev)
    if edge_index is None or x is None or x.shape is None or edge_index.shape is None:
        return Ev(UNKNOWN)
    edges = edge_index.shape[1]
    if model.widths and not model.guessed:
        features, how = max(model.widths), "its widest layer's messages"
    else:
        features = max((x.shape[-1],) + model.widths)
        how = "the widest of its input and the widths it was built with"
    messages = Arr("torch", (edges, features), x.dtype, x.device)
    record_transient(an, node, "message_passing", messages.nbytes, x.device,
                     f"message passing over all {edges:,} edges at once (E x F messages, "
                     f"F = {features:,}: {how})", exact=False)
    return Ev(UNKNOWN)


def target_device(name: str, args, kwargs, current: str) -> str:
    """Where .to(...)/.cuda()/.cpu() sends something."""
    if name == "cuda":
        return device_of(args[0] if args else 0, "cuda:0")
    if name == "cpu":
        return "cpu"
    for value in list(args) + [kw(kwargs, "device", None)]:
        if isinstance(value, (Device, str)) or (isinstance(value, int)
                                                and not isinstance(value, bool)):
            if isinstance(value, str) and not _looks_like_device(value):
                continue
            return device_of(value, current)
    return current


def _looks_like_device(text: str) -> bool:
    return text.split(":", 1)[0] in ("cpu", "cuda", "mps", "xpu", "meta")


@method("graph", "to", "cuda", "cpu")
def graph_to(an, node, graph, args, kwargs, inputs):
    """Data.to(device, *attrs): the named attributes only, or all of them."""
    name = node.func.attr
    device = target_device(name, args, kwargs, graph.device)
    names = tuple(a for a in args[1:] if isinstance(a, str)) if name == "to" else ()
    moving = [(k, a) for k, a in graph.tensors if not names or k in names]
    if all(a.device == device for _, a in moving):
        return Ev(graph, an.merge_temps(inputs))
    size = sum(a.nbytes or 0 for _, a in moving if a.device != device)
    ev = an.alloc(node, Arr("torch", (size,), "uint8", device, role="bytes"), inputs,
                  "device_copy", f"moving {'the whole graph' if not names else ', '.join(names)}"
                  f" ({len(moving)} tensors) to {device}",
                  exact=not graph.estimated)
    ev.value = graph.moved(device, names or None)
    return ev


@method("graphs", "to", "cuda")
def graphs_to(an, node, graphs, args, kwargs, inputs):
    raise NotHandled()
