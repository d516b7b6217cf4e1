"""Graphs, batches and loaders: Batch.from_data_list (every graph copied into one batch
plus an int64 batch vector; the originals stay alive), DataLoader with batch_size >=
len(dataset) (one batch holding everything), NeighborLoader (small sampled batches), a
model called on a whole giant graph (message tensors of E x F), and moving a graph to
a device."""
from __future__ import annotations

from ..values import UNKNOWN, Arr, Ev, Graph, GraphList, Loader, Seq
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
    ev = an.alloc(node, Arr("torch", (size,), "uint8", graphs.device, role="bytes"), inputs, "batch_copy",
                  f"Batch.from_data_list copies all {graphs.count:,} graphs"
                  f"{' (estimated from a sample)' if graphs.estimated else ''} into one "
                  "batch plus an int64 batch vector, while the originals stay alive")
    ev.value = result
    return ev


@func("torch.DataLoader", "torch_geometric.DataLoader", "torch_geometric.DenseDataLoader")
def data_loader(an, node, args, kwargs, inputs):
    dataset = args[0] if args else kw(kwargs, "dataset")
    batch_size = as_int(args[1] if len(args) > 1 else kw(kwargs, "batch_size", 1))
    graphs = graphs_of(dataset)
    for ev in inputs:
        an.free(ev)
    if graphs is None or batch_size is None or graphs.count == 0:
        return Ev(Loader(batch_size, dataset))
    share = min(1.0, batch_size / graphs.count)
    batch = batch_graph(graphs, share)
    size = batch_bytes(graphs, share)
    kind = "full_batch_loader" if batch_size >= graphs.count else "loader_batch"
    what = (f"DataLoader with batch_size={batch_size:,} >= len(dataset)={graphs.count:,}: "
            "one batch copies the whole dataset" if kind == "full_batch_loader"
            else f"each batch of {batch_size:,} graphs")
    an.live[graphs.device] += size  # only while a batch exists: not kept afterwards
    an.record(node, kind, size, an.live[graphs.device], graphs.device, what, None, "")
    an.live[graphs.device] -= size
    return Ev(Loader(batch_size, dataset, batch))


@func("torch_geometric.NeighborLoader", "torch_geometric.LinkNeighborLoader")
def neighbor_loader(an, node, args, kwargs, inputs):
    data = args[0] if args else kw(kwargs, "data")
    fanouts = items_of(kw(kwargs, "num_neighbors", args[1] if len(args) > 1 else None))
    batch_size = as_int(kw(kwargs, "batch_size", 1))
    for ev in inputs:
        an.free(ev)
    if not isinstance(data, Graph) or not fanouts or batch_size is None \
            or any(as_int(f) is None for f in fanouts):
        return Ev(Loader(batch_size, data))
    nodes, edges, frontier = batch_size, 0, batch_size
    for fanout in fanouts:
        step = frontier * (fanout if fanout >= 0 else (data.num_nodes or 1))
        edges += step
        nodes += step
        frontier = step
    if data.num_nodes is not None:
        nodes = min(nodes, data.num_nodes)
    if data.num_edges is not None:
        edges = min(edges, data.num_edges)
    x = data.tensor("x")
    tensors = [("edge_index", Arr("torch", (2, edges), "int64", data.device,
                                  num_nodes=nodes, role="edge_index"))]
    if x is not None and x.shape and len(x.shape) == 2:
        tensors.append(("x", x.but(shape=(nodes, x.shape[1]), role="x")))
    return Ev(Loader(batch_size, data, Graph(tuple(tensors), nodes, edges, estimated=True)))


def model_call(an, node, args, kwargs, inputs):
    """A model (or any unknown callable) applied to a graph: message passing builds
    E x F message tensors (one row per edge), the dominant cost on a giant graph."""
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
    edges, features = edge_index.shape[1], x.shape[-1]
    messages = Arr("torch", (edges, features), x.dtype, x.device)
    an.live[x.device] += messages.nbytes
    an.record(node, "message_passing", messages.nbytes, an.live[x.device], x.device,
              f"message passing over all {edges:,} edges at once (E x F messages)",
              messages, "")
    an.live[x.device] -= messages.nbytes
    return Ev(UNKNOWN)


@method("graph", "to", "cuda", "cpu")
def graph_to(an, node, graph, args, kwargs, inputs):
    name = node.func.attr
    if name == "cuda":
        device = device_of(args[0] if args else 0, "cuda:0")
    elif name == "cpu":
        device = "cpu"
    else:
        device = device_of(args[0] if args else kw(kwargs, "device"), graph.device)
    if device == graph.device:
        return Ev(graph, an.merge_temps(inputs))
    moved = Graph(tuple((k, a.but(device=device)) for k, a in graph.tensors),
                  graph.num_nodes, graph.num_edges, graph.estimated)
    ev = an.alloc(node, Arr("torch", (graph.nbytes,), "uint8", device, role="bytes"), inputs,
                  "device_copy", f"moving the whole graph ({len(graph.tensors)} tensors) "
                  f"to {device}")
    ev.value = moved
    return ev


@method("graphs", "to", "cuda")
def graphs_to(an, node, graphs, args, kwargs, inputs):
    raise NotHandled()
