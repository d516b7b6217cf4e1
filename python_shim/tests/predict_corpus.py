"""Cells for the predictor's tests: risky ones (each breaks a 12.7 GiB Colab session or a
15 GiB T4) with the hand arithmetic of their peak, and benign ones (same APIs at safe
sizes, sparse edge_index pipelines, NeighborLoader training).

Namespaces hold real objects with the right metadata but little memory: a tensor made by
`torch.empty(1).expand(n, n)` has shape (n, n) and 4 bytes of storage, an array made by
`np.broadcast_to` likewise, scipy matrices have the right shape and a few non-zeros, and
PyG Data objects are built from such tensors. The predictor reads shapes, never data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch
import torch_geometric
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader, NeighborLoader
from torch_geometric.utils import to_dense_adj

GiB = 1 << 30
RAM = int(12.7 * GiB)   # a Colab session
VRAM = 15 * GiB         # a T4


@dataclass
class Case:
    name: str
    source: str
    setup: Callable[[], Dict]
    line: int = 0          # risky cases: where the finding must be
    peak: float = 0        # risky cases: the peak by hand
    device: str = "cpu"


def big(*shape, dtype=torch.float32):
    """A real tensor with this shape and dtype that owns one element."""
    return torch.zeros(1, dtype=dtype).expand(*shape)


def big_np(*shape, dtype=np.float64):
    return np.broadcast_to(np.zeros(1, dtype=dtype), shape)


def libs(**extra) -> Callable[[], Dict]:
    def make():
        namespace = {"torch": torch, "np": np, "sp": sp, "nx": nx,
                     "torch_geometric": torch_geometric, "Data": Data, "Batch": Batch,
                     "DataLoader": DataLoader, "NeighborLoader": NeighborLoader,
                     "to_dense_adj": to_dense_adj}
        namespace.update({k: v() if callable(v) and not isinstance(v, type) else v
                          for k, v in extra.items()})
        return namespace
    return make


def many_graphs(count, nodes, edges, features=128):
    x, edge_index = big(nodes, features), big(2, edges, dtype=torch.int64)
    return lambda: [Data(x=x, edge_index=edge_index) for _ in range(count)]


def giant_graph(nodes=2_000_000, edges=20_000_000, features=256):
    return lambda: Data(x=big(nodes, features), edge_index=big(2, edges, dtype=torch.int64))


def sparse(n, m, fmt="csr", dtype=np.float64, nnz=10):
    """A scipy sparse matrix of shape (n, m) with a few non-zeros."""
    rows = np.arange(nnz) % n
    matrix = sp.coo_matrix((np.ones(nnz, dtype=dtype), (rows, rows % m)), shape=(n, m))
    return matrix.asformat(fmt)


def model():
    return torch.nn.Linear(4, 4)


N60 = 60_000 ** 2
N45 = 45_000 ** 2
GRAPHS_300 = 300 * (100_000 * 128 * 4 + 2 * 500_000 * 8) + 300 * 100_000 * 8 + 301 * 8

RISKY = [
    Case("randint_float", "import torch\nn = 60_000\nadj = torch.randint(0, 2, (n, n)).float()",
         libs(), 3, N60 * (8 + 4)),
    Case("randn_square", "x = torch.randn(60_000, 60_000)", libs(), 1, N60 * 4),
    Case("np_zeros", "a = np.zeros((45_000, 45_000))", libs(), 1, N45 * 8),
    Case("np_random_rand", "a = np.random.rand(42_000, 42_000)", libs(), 1, 42_000 ** 2 * 8),
    Case("ones_float64", "n = 45000\nw = torch.ones(n, n, dtype=torch.float64)", libs(), 2,
         N45 * 8),
    Case("full", "t = torch.full((60000, 60000), 1.0)", libs(), 1, N60 * 4),
    Case("empty_half_3d", "t = torch.empty(3, 50_000, 50_000, dtype=torch.float16)", libs(),
         1, 3 * 50_000 ** 2 * 2),
    Case("arange", "idx = torch.arange(2_000_000_000)", libs(), 1, 2e9 * 8),
    Case("eye", "I = torch.eye(60_000)", libs(), 1, N60 * 4),
    Case("np_full_int", "a = np.full((50000, 50000), 7)", libs(), 1, 50_000 ** 2 * 8),
    Case("np_randint", "a = np.random.randint(0, 2, size=(45000, 45000))", libs(), 1, N45 * 8),
    Case("randint_nonzero", "n = 30_000\nadj = torch.randint(0, 2, (n, n))\n"
         "edge_index = adj.nonzero().t()", libs(), 3, 30_000 ** 2 * 8 * 2),
    Case("mask_nonzero_bound", "edge_index = (adj > 0).nonzero().t().contiguous()",
         libs(adj=lambda: big(40_000, 40_000)), 1, 40_000 ** 2 * 16 * 2),  # .t().contiguous() copies
    Case("np_argwhere", "pairs = np.argwhere(A)",
         libs(A=lambda: big_np(40_000, 40_000, dtype=np.int8)), 1, 40_000 ** 2 * 16 * 2),
    Case("np_nonzero", "rows, cols = np.nonzero(A)",
         libs(A=lambda: big_np(40_000, 40_000, dtype=np.int8)), 1, 40_000 ** 2 * 16),
    Case("to_dense_adj_data", "adj = to_dense_adj(data.edge_index)",  # sized by its max
         libs(data=lambda: Data(edge_index=torch.tensor([[0, 59_999], [59_999, 0]]),
                                num_nodes=60_000)), 1, N60 * 4),
    Case("to_dense_adj_max", "from torch_geometric.utils import to_dense_adj\n"
         "adj = to_dense_adj(edge_index, max_num_nodes=70_000)",
         libs(edge_index=lambda: torch.zeros(2, 10, dtype=torch.long)), 2, 70_000 ** 2 * 4),
    Case("to_dense_adj_randint", "edge_index = torch.randint(0, 80_000, (2, 500_000))\n"
         "adj = torch_geometric.utils.to_dense_adj(edge_index)", libs(), 2,
         80_000 ** 2 * 4 + 2 * 500_000 * 8),
    Case("scipy_toarray", "dense = A.toarray()",
         libs(A=lambda: sparse(50_000, 50_000, "csr")), 1,
         50_000 ** 2 * 8),
    Case("scipy_todense", "M = A.tocoo().todense()",
         libs(A=lambda: sparse(45_000, 45_000, "coo")), 1, N45 * 8),
    Case("scipy_A", "D = A.A",
         libs(A=lambda: sparse(60_000, 60_000, "csr", np.float32)), 1, N60 * 4),
    Case("nx_to_numpy", "adj = nx.to_numpy_array(G)", libs(G=lambda: nx.empty_graph(45_000)),
         1, N45 * 8),
    Case("nx_adjacency_dense", "adj = nx.adjacency_matrix(G).todense()",
         libs(G=lambda: nx.empty_graph(45_000)), 1, N45 * 8),
    Case("broadcast_diff", "d = x[:, None] - x[None, :]", libs(x=lambda: torch.randn(20_000, 16)),
         1, 20_000 ** 2 * 16 * 4),
    Case("broadcast_dist", "dist = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)",
         libs(x=lambda: torch.randn(20_000, 16)), 1, 20_000 ** 2 * 16 * 4 * 2),
    Case("cdist_self", "D = torch.cdist(x, x)", libs(x=lambda: torch.randn(70_000, 64)), 1,
         70_000 ** 2 * 4),
    Case("cdist_pair", "D = torch.cdist(a, b)",
         libs(a=lambda: torch.randn(60_000, 3), b=lambda: torch.randn(80_000, 3)), 1,
         60_000 * 80_000 * 4),
    Case("gram_matmul", "sim = x @ x.T", libs(x=lambda: torch.randn(60_000, 128)), 1, N60 * 4),
    Case("gram_mm", "sim = torch.mm(x, x.t())", libs(x=lambda: torch.randn(60_000, 128)), 1,
         N60 * 4),
    Case("np_dot", "K = np.dot(X, X.T)", libs(X=lambda: np.zeros((45_000, 32))), 1, N45 * 8),
    Case("batch_from_list", "batch = Batch.from_data_list(graphs)",
         libs(graphs=many_graphs(300, 100_000, 500_000)), 1, GRAPHS_300),
    Case("full_batch_loader", "loader = DataLoader(graphs, batch_size=len(graphs))\n"
         "for batch in loader:\n    pass", libs(graphs=many_graphs(300, 100_000, 500_000)), 1,
         GRAPHS_300),
    Case("full_batch_training", "for epoch in range(200):\n    optimizer.zero_grad()\n"
         "    out = model(data.x, data.edge_index)\n    loss = out.sum()",
         libs(data=giant_graph(), model=model), 3, 20_000_000 * 256 * 4),
    Case("full_batch_training_gpu", "data = data.to('cuda')\nmodel = model.cuda()\n"
         "out = model(data.x, data.edge_index)", libs(data=giant_graph(), model=model), 3,
         20_000_000 * 256 * 4 + 2_000_000 * 256 * 4 + 2 * 20_000_000 * 8, "cuda:0"),
    Case("cuda_copy", "x_gpu = x.cuda()", libs(x=lambda: big(70_000, 70_000)), 1,
         70_000 ** 2 * 4, "cuda:0"),
    Case("from_numpy_to_cuda", "t = torch.from_numpy(A).to('cuda')",
         libs(A=lambda: big_np(45_000, 45_000)), 1, N45 * 8, "cuda:0"),
    Case("tensor_of_array", "t = torch.tensor(A)", libs(A=lambda: big_np(42_000, 42_000)), 1,
         42_000 ** 2 * 8),
    Case("tensor_to_cuda", "t = torch.tensor(A, device='cuda')",
         libs(A=lambda: big_np(45_000, 45_000)), 1, N45 * 8, "cuda:0"),
    Case("zeros_cuda", "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')"
         "\nn = 65_000\nh = torch.zeros(n, n, device=device)", libs(), 3, 65_000 ** 2 * 4,
         "cuda:0"),
    Case("cat_three", "out = torch.cat([a, b, c], dim=0)",
         libs(a=lambda: big(40_000, 40_000), b=lambda: big(40_000, 40_000),
              c=lambda: big(40_000, 40_000)), 1, 3 * 40_000 ** 2 * 4),
    Case("stack_listcomp", "t = torch.stack([torch.randn(10_000, 10_000) for _ in range(40)])",
         libs(), 1, 2 * 40 * 10_000 ** 2 * 4),
    Case("repeat", "r = x.repeat(2000, 1)", libs(x=lambda: torch.randn(50_000, 64)), 1,
         2000 * 50_000 * 64 * 4),
    Case("expand_contiguous", "row = torch.randn(1, 60_000)\n"
         "full = row.expand(60_000, 60_000).contiguous()", libs(), 2, N60 * 4 + 60_000 * 4),
    Case("clone", "y = adj.clone()", libs(adj=lambda: big(60_000, 60_000)), 1, N60 * 4),
    Case("double", "a64 = a.double()", libs(a=lambda: big(45_000, 45_000)), 1, N45 * 8),
    Case("astype", "b = a.astype(np.float64)",
         libs(a=lambda: big_np(45_000, 45_000, dtype=np.float32)), 1, N45 * 8),
    Case("rand_threshold", "adj = torch.rand(55_000, 55_000) < 0.01\nei = adj.nonzero()",
         libs(), 1, 55_000 ** 2 * 5),
    Case("float_then_matmul", "h = adj.float() @ features",
         libs(adj=lambda: big(60_000, 60_000, dtype=torch.int64),
              features=lambda: torch.randn(60_000, 64)), 1, N60 * 4 + 60_000 * 64 * 4),
    Case("half_cuda", "h = torch.zeros(95_000, 95_000, dtype=torch.float16, device='cuda')",
         libs(), 1, 95_000 ** 2 * 2, "cuda:0"),
    Case("np_array_copy", "B = np.array(A)", libs(A=lambda: big_np(45_000, 45_000)), 1,
         N45 * 8),
    Case("direct_import_randn", "from torch import randn\nz = randn(65_000, 65_000)", libs(),
         2, 65_000 ** 2 * 4),
    Case("magic_lines_kept_numbering", "%matplotlib inline\n!nvidia-smi\n"
         "x = torch.randn(60_000, 60_000)", libs(), 3, N60 * 4),
]

BENIGN = [
    Case("small_randn", "x = torch.randn(1000, 128)", libs()),
    Case("small_randint_float", "adj = torch.randint(0, 2, (2000, 2000)).float()", libs()),
    Case("np_zeros_small", "a = np.zeros((1000, 1000))", libs()),
    Case("edge_index_randint", "edge_index = torch.randint(0, 60_000, (2, 1_000_000))", libs()),
    Case("to_undirected", "from torch_geometric.utils import to_undirected\n"
         "edge_index = to_undirected(edge_index)",
         libs(edge_index=lambda: torch.randint(0, 100, (2, 1000)))),
    Case("neighbor_loader_training",
         "loader = NeighborLoader(data, num_neighbors=[10, 10], batch_size=1024)\n"
         "for batch in loader:\n    out = model(batch.x, batch.edge_index)\n"
         "    loss = out.sum()", libs(data=giant_graph(), model=model)),
    Case("neighbor_loader_gpu",
         "loader = NeighborLoader(data, num_neighbors=[15, 10], batch_size=512)\n"
         "for batch in loader:\n    batch = batch.to('cuda')\n"
         "    out = model(batch.x, batch.edge_index)", libs(data=giant_graph(), model=model)),
    Case("scipy_to_coo", "coo = A.tocoo()\nrow, col = coo.row, coo.col",
         libs(A=lambda: sparse(60_000, 60_000, "csr"))),
    Case("scipy_small_dense", "D = A.toarray()",
         libs(A=lambda: sparse(1000, 1000, "csr"))),
    Case("nx_small_dense", "adj = nx.to_numpy_array(G)", libs(G=lambda: nx.path_graph(500))),
    Case("nx_sparse_big", "A = nx.adjacency_matrix(G)\nA = A.tocsr()",
         libs(G=lambda: nx.empty_graph(45_000))),
    Case("to_dense_adj_small", "adj = to_dense_adj(data.edge_index)",
         libs(data=lambda: Data(edge_index=torch.zeros(2, 10, dtype=torch.long),
                                num_nodes=2000))),
    Case("gram_small", "sim = x @ x.T", libs(x=lambda: torch.randn(2000, 64))),
    Case("cdist_small", "D = torch.cdist(x, x)", libs(x=lambda: torch.randn(3000, 3))),
    Case("broadcast_small", "d = x[:, None] - x[None, :]", libs(x=lambda: torch.randn(300, 3))),
    Case("batch_small", "batch = Batch.from_data_list(graphs)",
         libs(graphs=many_graphs(10, 1000, 5000))),
    Case("loader_minibatch", "loader = DataLoader(graphs, batch_size=32, shuffle=True)\n"
         "for batch in loader:\n    out = model(batch.x, batch.edge_index)",
         libs(graphs=many_graphs(300, 1000, 5000), model=model)),
    Case("loader_full_small", "loader = DataLoader(graphs, batch_size=len(graphs))",
         libs(graphs=many_graphs(100, 100, 400))),
    Case("loader_big_graphs_batch1", "loader = DataLoader(graphs, batch_size=1)",
         libs(graphs=many_graphs(300, 100_000, 500_000))),
    Case("from_numpy_no_copy", "t = torch.from_numpy(A)", libs(A=lambda: big_np(45_000, 45_000))),
    Case("transpose_views", "a = x.T\nb = x.t()\nc = x.transpose(0, 1)",
         libs(x=lambda: big(60_000, 60_000))),
    Case("expand_view", "e = row.expand(60_000, 60_000)", libs(row=lambda: torch.randn(1, 60_000))),
    Case("to_same_device", "y = x.to('cpu')\nz = x.float()", libs(x=lambda: big(60_000, 60_000))),
    Case("cat_small", "c = torch.cat([a, b])",
         libs(a=lambda: torch.randn(1000, 64), b=lambda: torch.randn(1000, 64))),
    Case("stack_small", "t = torch.stack([torch.randn(100, 100) for _ in range(10)])", libs()),
    Case("repeat_small", "r = x.repeat(2, 1)", libs(x=lambda: torch.randn(1000, 64))),
    Case("graph_to_cuda_small", "data = data.to('cuda')",
         libs(data=lambda: Data(x=torch.randn(2708, 1433),
                                edge_index=torch.randint(0, 2708, (2, 10556))))),
    Case("cuda_moderate", "x = torch.randn(5000, 5000, device='cuda')", libs()),
    Case("clone_small", "y = x.clone()", libs(x=lambda: torch.randn(1000, 1000))),
    Case("tensor_small_array", "t = torch.tensor(A)", libs(A=lambda: np.zeros((100, 100)))),
    Case("sparse_coo_tensor", "adj = torch.sparse_coo_tensor(edge_index, values, (60_000, 60_000))",
         libs(edge_index=lambda: torch.randint(0, 60_000, (2, 100_000)),
              values=lambda: torch.ones(100_000))),
    Case("edge_index_from_numpy", "edge_index = torch.tensor(np.stack([rows, cols]))",
         libs(rows=lambda: np.zeros(1_000_000, dtype=np.int64),
              cols=lambda: np.zeros(1_000_000, dtype=np.int64))),
    Case("reductions_of_big", "s = x.sum()\nm = x.mean(0)", libs(x=lambda: big(60_000, 60_000))),
    Case("shape_then_small", "n = x.shape[0]\ndeg = torch.zeros(n)",
         libs(x=lambda: big(60_000, 60_000))),
    Case("unknown_code", "model = GCN(128, 64)\nopt = torch.optim.Adam(model.parameters())\n"
         "for epoch in range(100):\n    loss = train(model, loader)", libs()),
    Case("np_random_small", "a = np.random.rand(1000, 100)", libs()),
    Case("argwhere_small", "pairs = np.argwhere(mask)", libs(mask=lambda: np.ones((100, 100)))),
    Case("nonzero_small", "ei = (adj > 0).nonzero()", libs(adj=lambda: torch.rand(1000, 1000))),
    Case("eye_small", "I = torch.eye(2000)", libs()),
    Case("arange_small", "idx = torch.arange(1_000_000)", libs()),
    Case("randint_nonzero_small", "idx = torch.randint(0, 2, (3000, 3000))\ne = idx.nonzero()",
         libs()),
    Case("float16_conversion", "x = torch.randn(60_000, 128)\nx = x.to(torch.float16)", libs()),
    Case("neighbor_loader_only", "loader = NeighborLoader(data, num_neighbors=[25, 10], "
         "batch_size=256, shuffle=True)", libs(data=giant_graph())),
    Case("del_between", "a = torch.randn(30_000, 30_000)\ndel a\nb = torch.randn(30_000, 30_000)",
         libs()),
    Case("rebinding_frees", "x = torch.randn(30_000, 30_000)\nx = torch.randn(30_000, 30_000)",
         libs()),
    Case("cell_magic", "%%bash\npython -c 'import torch; torch.randn(60000, 60000)'", libs()),
    Case("chunked_cdist", "for i in range(0, x.shape[0], 1000):\n"
         "    block = torch.cdist(x[i:i + 1000], x)\n    top = block.topk(10, dim=1)",
         libs(x=lambda: big(60_000, 64))),
    Case("chunked_gram", "for start in range(0, n, 4096):\n"
         "    sims = x[start:start + 4096] @ x.T", libs(x=lambda: big(60_000, 128), n=60_000)),
    Case("function_body_not_run", "def make():\n    return torch.randn(60_000, 60_000)", libs()),
]
