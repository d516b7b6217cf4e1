"""Cells from real public code for the predictor: PyG and OGB examples, GitHub issues
about memory errors, Q&A threads and research repositories, lifted nearly verbatim, each
with its source beside it. Risky cells carry the peak worked out by hand from the
libraries' arithmetic, and the line and device where the allocation happens.

Namespaces are sized to the datasets the sources use (ogbn-arxiv 169,343 nodes and
1,166,243 edges; ogbn-products 2,449,029 nodes and 123,718,280 directed edges in PyG's
edge_index, i.e. 61,859,140 undirected; Reddit 232,965 nodes and 114,615,892 edges;
ogbn-papers100M 111,059,956 nodes and 1,615,685,872 edges; ...), built as
predict_corpus.py builds them: tensors and arrays that are expanded views owning one
element, datasets and graphs holding such views, and real small data where a value
must be read (labels, so that `dataset.num_classes` reads y.max() + 1). A networkx
graph of a million nodes is a Graph whose node dict has that many keys (all that the
predictor reads of it). There is no GPU here, so a tensor can only live on the CPU
before the cell: where a source's tensors were already on the GPU, the cell runs on CPU
memory instead (said per case), and where the cell itself moves them, the device is
the GPU's.

`reconstructed` marks the few cells whose source states the call and the sizes but
shows no code (the call is written as its documentation shows it)."""
from __future__ import annotations

import argparse
import copy
import functools
import math
from dataclasses import dataclass
from typing import Callable, Dict

import networkx as nx
import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.csgraph
import scipy.spatial.distance
import torch
import torch.nn.functional as F
import torch_geometric
from torch.utils.data import TensorDataset
from torch_geometric.data import Batch, Data, HeteroData, InMemoryDataset
from torch_geometric.loader import DataLoader, NeighborLoader
from torch_geometric.nn import GCNConv, GENConv
from torch_geometric.utils import (add_self_loops, remove_self_loops, to_dense_adj,
                                   to_dense_batch, to_undirected)

from predict_corpus import RAM, VRAM, big, big_np  # a Colab session and a T4

GiB = 1 << 30


@dataclass
class Case:
    name: str
    source: str            # repository + path, or the thread's address
    cell: str
    setup: Callable[[], Dict]
    family: str
    line: int = 0          # risky cells: where the finding must be
    peak: float = 0        # risky cells: the peak by hand
    device: str = "cpu"
    note: str = ""         # how the cell or its namespace departs from the source
    ram: int = RAM         # free memory to judge against: the source's machine where
    vram: int = VRAM       # it says, else a Colab session and a T4


# -- datasets ----------------------------------------------------------------------------
class Stored(InMemoryDataset):
    """An InMemoryDataset holding given data (what PygNodePropPredDataset, Reddit, ...
    hold once loaded), without files."""

    def __init__(self, data, slices):
        super().__init__(None)
        self.data, self.slices = data, slices


def labels(n: int, classes: int, column: bool = False) -> torch.Tensor:
    """Real int64 labels (the max is what num_classes reads)."""
    y = torch.zeros((n, 1) if column else (n,), dtype=torch.long)
    y.view(-1)[0] = classes - 1
    return y


def graph(nodes, edges, features, classes=None, column=False, **extra) -> Data:
    data = Data(x=big(nodes, features), edge_index=big(2, edges, dtype=torch.long), **extra)
    if classes is not None:
        data.y = labels(nodes, classes, column)
    return data


def dataset_of(data: Data) -> Stored:
    return Stored(data, {"x": torch.tensor([0, data.num_nodes])})


ARXIV = dict(nodes=169_343, edges=1_166_243, features=128, classes=40, column=True)
PRODUCTS = dict(nodes=2_449_029, edges=123_718_280, features=100, classes=47, column=True)
REDDIT = dict(nodes=232_965, edges=114_615_892, features=602, classes=41)
PAPERS = dict(nodes=111_059_956, edges=1_615_685_872, features=128)
FLICKR = dict(nodes=89_250, edges=899_756, features=500, classes=7)
CORA = dict(nodes=2_708, edges=10_556, features=1_433, classes=7)
PENN94 = dict(nodes=41_554, edges=1_362_229, features=4_814, classes=2)


def masks(n):
    return dict(train_mask=big(n, dtype=torch.bool), val_mask=big(n, dtype=torch.bool),
                test_mask=big(n, dtype=torch.bool))


def ogb(spec, **extra):
    return lambda: dataset_of(graph(**spec, **extra))


def mag() -> HeteroData:
    """OGB_MAG as PyG holds it (preprocess='metapath2vec': every type has x)."""
    data = HeteroData()
    data["paper"].x = big(736_389, 128)
    data["paper"].y = labels(736_389, 349)
    data["paper"].train_mask = big(736_389, dtype=torch.bool)
    data["paper"].val_mask = big(736_389, dtype=torch.bool)
    for kind, count in (("author", 1_134_649), ("institution", 8_740),
                        ("field_of_study", 59_965)):
        data[kind].x = big(count, 128)
    for triple, count in ((("author", "affiliated_with", "institution"), 1_043_998),
                          (("author", "writes", "paper"), 7_145_660),
                          (("paper", "cites", "paper"), 5_416_271),
                          (("paper", "has_topic", "field_of_study"), 7_505_078)):
        data[triple].edge_index = big(2, count, dtype=torch.long)
    return data


def movielens() -> HeteroData:
    """PyG's MovieLens (model_name='all-MiniLM-L6-v2'): 610 users without features."""
    data = HeteroData()
    data["user"].num_nodes = 610
    data["movie"].x = big(9_742, 404)
    data["user", "rates", "movie"].edge_index = big(2, 100_836, dtype=torch.long)
    return data


def dblp() -> HeteroData:
    data = HeteroData()
    for kind, count, width in (("author", 4_057, 334), ("paper", 14_328, 4_231),
                               ("term", 7_723, 50)):
        data[kind].x = big(count, width)
    data["author"].y = labels(4_057, 4)
    data["author"].train_mask = big(4_057, dtype=torch.bool)
    data["conference"].num_nodes = 20
    for triple, count in ((("author", "to", "paper"), 19_645),
                          (("paper", "to", "author"), 19_645),
                          (("paper", "to", "term"), 85_810),
                          (("term", "to", "paper"), 85_810),
                          (("paper", "to", "conference"), 14_328),
                          (("conference", "to", "paper"), 14_328)):
        data[triple].edge_index = big(2, count, dtype=torch.long)
    return data


@functools.lru_cache(maxsize=None)
def nx_graph(nodes: int, directed: bool = False):
    """A networkx graph with `nodes` nodes and no edges, its node dict filled directly
    (nx.empty_graph of a million nodes takes seconds and hundreds of MiB)."""
    graph_ = nx.DiGraph() if directed else nx.Graph()
    graph_._node = dict.fromkeys(range(nodes), {})
    return graph_


def csr(n, m=None, dtype=np.float64, nnz=10):
    m = n if m is None else m
    rows = np.arange(nnz) % n
    return sp.coo_matrix((np.ones(nnz, dtype=dtype), (rows, rows % m)), shape=(n, m)).tocsr()


# -- models built as the sources build them ----------------------------------------------
class TwoLayerGCN(torch.nn.Module):
    """pyg-team/pytorch_geometric#1725's GCN(num_features, num_classes, hidden)."""

    def __init__(self, num_features, num_classes, hidden_channels):
        super().__init__()
        self.conv1 = GCNConv(num_features, hidden_channels)
        self.conv2 = GCNConv(hidden_channels, num_classes)


class DeeperGCN(torch.nn.Module):
    """lightaime/deep_gcns_torch's ogbn-products model: 14 GENConv layers of 128."""

    def __init__(self, layers=14, hidden=128):
        super().__init__()
        self.node_features_encoder = torch.nn.Linear(100, hidden)
        self.gcns = torch.nn.ModuleList(GENConv(hidden, hidden) for _ in range(layers))


def data_1725(**extra) -> Data:
    """pyg-team/pytorch_geometric#1725's graph: MyData(edge_index=[2, 25298524],
    x=[5182, 875], y=[5182, 608], ...)."""
    return Data(x=big(5_182, 875), edge_index=big(2, 25_298_524, dtype=torch.long),
                y=big(5_182, 608), **extra)


class OgbGCN(torch.nn.Module):
    """The GCN class of ogb's examples/nodeproppred/*/gnn.py (defined in an earlier cell:
    its constructor runs later, so only its arguments are known to the predictor)."""

    def __init__(self, in_channels, hidden_channels, out_channels, num_layers, dropout):
        super().__init__()


class SAGE(torch.nn.Module):
    """examples/reddit.py's SAGE, defined in an earlier cell."""

    def __init__(self, in_channels, hidden_channels, out_channels):
        super().__init__()


def libs(**extra) -> Callable[[], Dict]:
    def make():
        # values are made fresh per call: a value that is itself callable (a function
        # or class) is given as `lambda: value`, classes as they are
        namespace = {"torch": torch, "np": np, "sp": sp, "nx": nx, "F": F,
                     "torch_geometric": torch_geometric, "Data": Data, "Batch": Batch,
                     "DataLoader": DataLoader, "NeighborLoader": NeighborLoader,
                     "to_dense_adj": to_dense_adj, "to_undirected": to_undirected,
                     "add_self_loops": add_self_loops, "remove_self_loops": remove_self_loops,
                     "to_dense_batch": to_dense_batch, "copy": copy, "math": math,
                     "scipy": scipy, "device": torch.device("cuda")}
        namespace.update({k: v() if callable(v) and not isinstance(v, type) else v
                          for k, v in extra.items()})
        return namespace
    return make


PYG = "pyg-team/pytorch_geometric"
OGB = "snap-stanford/ogb"
GH = "https://github.com/"

RISKY = [
    Case("cdist_80000_points", GH + "pytorch/pytorch/issues/57720",
         'a=torch.randn(2,80000,5, device="cuda", requires_grad=True)\n'
         'b=torch.randn(2,80000,5, device="cuda", requires_grad=True)\n'
         "c=torch.cdist(a,b)\nc.sum().backward()",
         libs(), "pairwise", 3, 2 * 2 * 80_000 * 5 * 4 + 2 * 80_000 ** 2 * 4, "cuda:0"),
    Case("fld_nn_dists_chunks", "marcojira/fld fld/metrics/PrecisionRecall.py (issue #8)",
         "dists = torch.zeros(feat.shape[0]).to(DEVICE)\n"
         "for i in range(math.ceil(feat.shape[0] / BATCH_SIZE)):\n"
         "    start, end = i * BATCH_SIZE, (i + 1) * BATCH_SIZE\n"
         "    curr_dists = torch.cdist(feat[start:end], feat)\n"
         "    curr_dists = curr_dists.topk(\n"
         "        self.num_neighbors, dim=1, largest=False\n"
         "    ).values\n"
         "    dists[start:end] = curr_dists[:, -1]",
         libs(feat=lambda: big(1_344_726, 2048), DEVICE=torch.device("cpu"),
              BATCH_SIZE=10_000), "pairwise", 4,
         10_000 * 1_344_726 * 4 + 1_344_726 * 4,
         note="features on the CPU (the issue's were on the GPU: DEVICE is cpu here)"),
    Case("pynbs_todense", GH + "idekerlab/pyNBS/issues/3",
         "tmp_dense = adj_mat.todense()", libs(adj_mat=lambda: csr(119_290)),
         "dense_adjacency", 1, 119_290 ** 2 * 8),
    Case("dijkstra_200k_nodes", GH + "scipy/scipy/issues/18090",
         "from scipy.sparse.csgraph import dijkstra\n"
         "dist_matrix = dijkstra(csgraph=graph, directed=False)",
         libs(graph=lambda: csr(200_000)), "graph_algorithm", 2, 200_000 ** 2 * 8,
         note="reconstructed: the issue states the call and the 200k nodes"),
    Case("deepwalk_transition_matrix", GH + "shun1024/weighted-deepwalk/issues/2",
         "matrix = np.empty([len(nodes), len(nodes)])",
         libs(nodes=lambda: list(range(65_000))), "dense_constructor", 1, 65_000 ** 2 * 8),
    Case("tadw_adjacency", "thunlp/OpenNE src/openne/tadw.py (issue #112)",
         "adj = np.zeros((node_size, node_size))\n"
         "for edge in G.edges():\n"
         "    adj[look_up[edge[0]]][look_up[edge[1]]] = 1.0\n"
         "    adj[look_up[edge[1]]][look_up[edge[0]]] = 1.0",
         libs(node_size=884_901, G=lambda: nx_graph(884_901), look_up={}),
         "dense_constructor", 1, 884_901 ** 2 * 8),
    Case("tadw_second_order", "thunlp/OpenNE src/openne/tadw.py (issue #112)",
         "M = (adj + np.dot(adj, adj))/2",
         libs(adj=lambda: big_np(884_901, 884_901)), "pairwise", 1,
         # the product; NumPy adds adj into it and halves it in place (temporary elision)
         884_901 ** 2 * 8),
    Case("products_full_batch_gcn", OGB + " issues #16 and #53 (examples/nodeproppred/"
         "products full-batch GCN)",
         "model = GCN(data.num_features, 256, dataset.num_classes, 3, 0.5).to(device)\n"
         "data = data.to(device)\n"
         "out = model(data.x, data.edge_index)[train_idx]",
         libs(dataset=ogb(PRODUCTS), data=lambda: graph(**PRODUCTS), GCN=OgbGCN,
              train_idx=lambda: big(196_615, dtype=torch.long)),
         "message_passing", 3,
         123_718_280 * 256 * 4 + 2_449_029 * 100 * 4 + 2 * 123_718_280 * 8
         + 2_449_029 * 8, "cuda:0"),
    Case("attention_scores_40320", GH + "pytorch/pytorch/issues/133206",
         "scores = (query @ key.transpose(-2, -1)).to(dtype=working_precision)",
         libs(query=lambda: big(1, 8, 40_320, 64), key=lambda: big(1, 8, 40_320, 64),
              working_precision=torch.float32), "pairwise", 1, 8 * 40_320 ** 2 * 4,
         note="query and key on the CPU (the issue's on the GPU)"),
    Case("softtriple_recall_sim", GH + "idstcv/SoftTriple/issues/13",
         "num = X.shape[0]\nsim = X.dot(X.T)\nminval = np.min(sim) - 1.\n"
         "sim -= np.diag(np.diag(sim))\nsim += np.diag(np.ones(num) * minval)",
         libs(X=lambda: big_np(122_994, 512, dtype=np.float32)), "pairwise", 2,
         122_994 ** 2 * 4),
    Case("textfooler_cos_sim", "jind11/TextFooler comp_cos_sim_mat.py (issues #3, #30)",
         "norm = np.linalg.norm(embeddings, axis=1, keepdims=True)\n"
         'embeddings = np.asarray(embeddings / norm, "float32")\n'
         "product = np.dot(embeddings, embeddings.T)",
         libs(embeddings=lambda: big_np(65_713, 300)), "pairwise", 3,
         65_713 ** 2 * 4 + 65_713 * 300 * 4),
    Case("embedding_distance_matrix", "nesl/nlp_adversarial_examples compute_dist_mat.py"
         " (issue #4)", "c_ = -2*np.dot(embedding_matrix.T , embedding_matrix)",
         libs(embedding_matrix=lambda: big_np(300, 50_001)), "pairwise",
         1, 50_001 ** 2 * 8,  # -2 * the product is done in place (temporary elision)
         note="float64 embeddings: the maintainer puts the result at about 20 GB"),
    Case("lemon_to_numpy_array", GH + "GiulioRossetti/cdlib/issues/133",
         "graph_m = nx.convert_matrix.to_numpy_array(graph)",
         libs(graph=lambda: nx_graph(850_000)), "dense_adjacency", 1, 850_000 ** 2 * 8),
    Case("sdne_adjacency", "palash1992/GEM gem/utils/graph_util.py (issue #22)",
         "n = di_graph.number_of_nodes()\nadj = np.zeros((n, n))\n"
         "for st, ed, w in di_graph.edges(data='weight', default=1):\n    adj[st, ed] = w",
         libs(di_graph=lambda: nx_graph(1_500_000, directed=True)), "dense_constructor",
         2, 1_500_000 ** 2 * 8),
    Case("gcn_608_classes", GH + "pyg-team/pytorch_geometric/issues/1725",
         "model.train()\noptimizer.zero_grad() #clear gradients\nout = model(data)\n"
         "loss = loss_fn(out[data.train_mask], data.y[train_mask])",
         libs(model=lambda: TwoLayerGCN(875, 608, 16),
              data=lambda: data_1725(edge_attr=big(25_298_524),
                                     train_mask=big(960, dtype=torch.long))),
         "message_passing", 3, 25_298_524 * 608 * 4,
         note="data on the CPU (the issue trains on the GPU)"),
    Case("skspatial_svd_points", GH + "numpy/numpy/issues/27542",
         "u, s, vh = np.linalg.svd(points)",
         libs(points=lambda: big_np(3_305_428, 3)), "linalg", 1, 2 * 3_305_428 ** 2 * 8,
         note="reconstructed: the issue gives the failing shape (3305428, 3305428)"),
    Case("scipy_svd_wide", GH + "scipy/scipy/issues/14001",
         "import scipy.linalg\nimport numpy as np\n"
         "df=np.ones((4799,53130), dtype=np.float64)\nscipy.linalg.svd(df)",
         libs(), "linalg", 4,
         2 * 4799 * 53130 * 8 + 53130 ** 2 * 8 + 4799 ** 2 * 8 + 4 * 4799 ** 2 * 8),
    Case("numpy_svd_27000", GH + "numpy/numpy/issues/20384",
         "import numpy as np\nx = np.random.randn(27000,27000)\nu,s,v = np.linalg.svd(x)",
         libs(), "linalg", 3, 27_000 ** 2 * 8 * (1 + 2 * 2 + 1 + 4)),
    Case("bool_matrix_dot", "https://coderapp.vercel.app/answer/74633899 "
         "(Stack Overflow: Numpy matmul requires way more memory ...)",
         "import numpy as np\nx,y=286880, 20419\n"
         "a=np.random.randint(0,2,(x,y),dtype=np.bool_).reshape(x,y)\n"
         "v=np.random.rand(y)\nprint(f'{a.shape=} {a.dtype=} {a.size * a.itemsize=}')\n"
         "print(f'{v.shape=} {v.dtype=} {v.size * v.itemsize=}')\nd = np.dot(a, v)",
         libs(), "pairwise", 7, 286_880 * 20_419 * (1 + 8)),
    Case("papers100m_sgc_undirected", OGB + " examples/nodeproppred/papers100M/sgc.py",
         "x = data.x.numpy()\nN = data.num_nodes\n\nprint('Making the graph undirected.')\n"
         "### Randomly drop some edges to save computation\n"
         "data.edge_index, _ = dropout_edge(data.edge_index, p = args.dropedge_rate)\n"
         "data.edge_index = to_undirected(data.edge_index, data.num_nodes)",
         libs(data=lambda: graph(**PAPERS), dropout_edge=lambda: torch_geometric.utils.dropout_edge,
              args=lambda: argparse.Namespace(dropedge_rate=0.4)),
         # to_undirected of the kept edges (178 bytes each), with dropout_edge's result
         # (the kept int64 edges and the bool mask) held by the cell
         "graph_utility", 7, 194 * int(0.6 * 1_615_685_872) + 1_615_685_872),
    Case("ogbn_train_products_undirected", PYG + " examples/ogbn_train.py "
         "(--dataset ogbn-products)",
         "if not args.use_directed_graph:\n"
         "    data.edge_index = to_undirected(data.edge_index, reduce='mean')",
         libs(data=lambda: graph(**PRODUCTS), args=None), "graph_utility", 2,
         178 * 123_718_280),
    Case("ogbn_train_papers_undirected", PYG + " examples/ogbn_train.py "
         "(--dataset ogbn-papers100M)",
         "if not args.use_directed_graph:\n"
         "    data.edge_index = to_undirected(data.edge_index, reduce='mean')",
         libs(data=lambda: graph(**PAPERS), args=None), "graph_utility", 2,
         178 * 1_615_685_872),
    Case("spose_one_hot_eye", "ViCCo-Group/SPoSE main.py#L154 (issue #1)",
         "I = torch.eye(n_items)", libs(n_items=1_461_680), "dense_constructor", 1,
         8_546_033_689_600),
    Case("rasterfairy_cdist", GH + "scipy/scipy/issues/8891",
         ">>> print(grid.shape)\n>>> print(features.shape)\n"
         ">>> cost = cdist(grid, features, 'sqeuclidean')".replace(">>> ", ""),
         libs(grid=lambda: big_np(331_776, 2), features=lambda: big_np(331_368, 2),
              cdist=lambda: scipy.spatial.distance.cdist), "pairwise", 3, 331_776 * 331_368 * 8),
    Case("st_dbscan_squareform", "eren-ck/st_dbscan src/st_dbscan/st_dbscan.py (issue #2)",
         "time_dist = squareform(pdist(X[:, 0].reshape(n, 1), metric=self.metric))\n"
         "euc_dist = squareform(pdist(X[:, 1:], metric=self.metric))\n"
         "dist = np.where(time_dist <= self.eps2, euc_dist, 2 * self.eps1)",
         libs(X=lambda: big_np(50_000, 3), n=50_000,
              pdist=lambda: scipy.spatial.distance.pdist,
              squareform=lambda: scipy.spatial.distance.squareform), "pairwise", 1,
         50_000 * 49_999 // 2 * 8 + 50_000 ** 2 * 8),
    Case("rmse_pdist", GH + "openproblems-bio/openproblems-v2/issues/46",
         "from scipy.spatial.distance import pdist\nD = pdist(embedding)",
         libs(embedding=lambda: big_np(100_955, 2)), "pairwise", 2,
         100_955 * 100_954 // 2 * 8, note="reconstructed: the issue names pdist and the "
         "100,955 observations"),
    Case("meshgrid_3d_range", GH + "numpy/numpy/issues/17595",
         "dimension=3\ntot_length=2000\nlist_no=range(1, tot_length)\n"
         "arr = np.meshgrid ( *[list_no for _ in range ( dimension )] )",
         libs(), "expansion", 4, 3 * 1_999 ** 3 * 8),
    Case("deepergcn_products_test",
         "lightaime/deep_gcns_torch examples/ogb/ogbn_products/test.py (issues #50, #92)",
         "model.eval()\nout = model(x, edge_index)",
         libs(model=lambda: DeeperGCN(), x=lambda: big(2_449_029, 100),
              edge_index=lambda: big(2, 123_718_280 + 2_449_029, dtype=torch.long)),
         "message_passing", 2, 64_597_662_208),
    Case("dgl_khop_adj_dense", "dmlc/dgl python/dgl/transforms/functional.py khop_adj "
         "(issue #4121, ogbn-arxiv)", "dense = adj_k.todense().astype(np.float32)",
         libs(adj_k=lambda: csr(169_343, dtype=np.int64)), "dense_adjacency", 1,
         169_343 ** 2 * (8 + 4)),
    Case("textsgc_dense_adj", "Tiiiger/SGC downstream/TextSGC/utils.py (issue #11, 20ng)",
         "dense = sparse.todense().astype(np.float32)\n"
         "torch_dense = torch.from_numpy(dense).to(device=device)",
         libs(sparse=lambda: csr(61_603).tocoo(), device="cpu"), "dense_adjacency", 1,
         61_603 ** 2 * (8 + 4)),
]

RISKY += [
    Case("keras_to_categorical", "keras-team/keras keras/utils/np_utils.py to_categorical "
         "(issue #7167)",
         "y = np.array(y, dtype='int').ravel()\nif not num_classes:\n"
         "    num_classes = np.max(y) + 1\nn = y.shape[0]\n"
         "categorical = np.zeros((n, num_classes))\ncategorical[np.arange(n), y] = 1",
         libs(y=lambda: big_np(10_000, 256, 256, 4, dtype=np.uint8), num_classes=16),
         "dense_constructor", 5,
         10_000 * 256 * 256 * 4 * 8 + 10_000 * 256 * 256 * 4 * 16 * 8, ram=48 * GiB,
         note="the reporter's 48 GB machine"),
    Case("rnn_one_hot_labels", GH + "WillKoehrsen/recurrent-neural-networks/issues/2",
         "y = np.zeros((400000,4000000), dtype=np.int8)", libs(), "dense_constructor", 1,
         400_000 * 4_000_000, ram=51 * GiB, note="the reporter's 51 GB machine"),
]

RISKY += [
    Case("ogbn_train_papers_to_gpu", PYG + " examples/ogbn_train.py (--dataset "
         "ogbn-papers100M)", "data.to(device, 'x', 'y')",
         libs(data=lambda: Data(x=big(111_059_956, 128),
                                edge_index=big(2, 1_615_685_872, dtype=torch.long),
                                y=big(111_059_956, 1))),
         "device_copy", 1, 111_059_956 * 129 * 4, "cuda:0"),
    Case("papers100m_mlp_node2vec", OGB + " examples/nodeproppred/papers100M/mlp.py",
         "x = data_dict['node_feat']\nsplit_idx = data_dict['split_idx']\n"
         "y = data_dict['label'].to(torch.long)\n\nif args.use_node_embedding:\n"
         "    x = torch.cat([x, data_dict['node2vec_embedding']], dim=-1)\n\nprint(x.shape)",
         libs(data_dict=lambda: {"node_feat": big(111_059_956, 128),
                                 "node2vec_embedding": big(111_059_956, 128),
                                 "label": big(111_059_956),
                                 "split_idx": {"train": big(1_207_179, dtype=torch.long)}},
              args=lambda: argparse.Namespace(use_node_embedding=True)),
         "concat", 6, 111_059_956 * 256 * 4 + 111_059_956 * 8),
    Case("swalk_slist_inverse", "jin530/SWalk algorithms/swalk/swalk.py make_SLIST (issue "
         "#3)", "P = np.linalg.inv(G + np.identity(self.n_items, dtype=np.float16) * self.reg)",
         libs(G=lambda: big_np(131_342, 131_342),
              self=lambda: argparse.Namespace(n_items=131_342, reg=10.0)),
         "linalg", 1, 4 * 131_342 ** 2 * 8,
         note="self is a namespace with the model's n_items and reg"),
]

RISKY += [
    Case("sdpa_reference_long_sequence", GH + "pytorch/pytorch/issues/103082 (the "
         "documented reference of scaled_dot_product_attention), sized by " + GH
         + "meta-pytorch/attention-gym/issues/32",
         "attn_mask = torch.ones((L, S), dtype=torch.bool).tril(diagonal=0)\n"
         "attn_mask = attn_mask.maksed_fill(not attn_mask, -float('inf'))\n"
         "attn_weight = torch.softmax((Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))) + "
         "attn_mask, dim=-1)\nout = attn_weight @ V",
         libs(Q=lambda: big(2, 12, 93_600, 128), K=lambda: big(2, 12, 93_600, 128),
              V=lambda: big(2, 12, 93_600, 128), L=93_600, S=93_600),
         "pairwise", 3, 2 * 2 * 12 * 93_600 ** 2 * 4,
         note="q, k, v of the attention-gym issue's shape, on the CPU"),
]

RISKY += [
    Case("gamf_affinity_matrix", "LAMDA-ZhiJian zhijian/models/model_merging/method/gamf.py "
         "(" + GH + "Thinklab-SJTU/pygmtools/issues/67)",
         "affinity = torch.zeros([n1 * n2, n1 * n2]).cuda()", libs(n1=2765, n2=2765),
         "dense_constructor", 1, 233_797_861_202_500),
    Case("propainter_frames_float", "sczhou/ProPainter core/utils.py (issue #10)",
         "img = img.float().div(255) if self.div else img.float()",
         libs(img=lambda: big(925, 3, 720, 1280, dtype=torch.uint8),
              self=lambda: argparse.Namespace(div=True)),
         "elementwise", 1, 2 * 925 * 3 * 720 * 1280 * 4,
         note="frames sized to the issue's 10,230,727,680-byte float copy"),
    Case("gcn_608_classes_validate", GH + "pyg-team/pytorch_geometric/issues/1725",
         "model.eval()\nout = model(data.x, data.edge_index)\n"
         "loss = loss_fn(out[data.val_mask], data.y[data.val_mask])",
         libs(model=lambda: TwoLayerGCN(875, 608, 16),
              data=lambda: data_1725(val_mask=big(240, dtype=torch.long))),
         "message_passing", 2, 25_298_524 * 608 * 4),
    Case("fld_pct_in_manifold", "marcojira/fld fld/metrics/PrecisionRecall.py "
         "pct_in_manifold (issue #8)",
         "total_in_manifold = 0\nnn_dists = nn_dists_of_manifold\n\n"
         "for i in range(math.ceil(evaluated_feat.shape[0] / BATCH_SIZE)):\n"
         "    start, end = i * BATCH_SIZE, (i + 1) * BATCH_SIZE\n"
         "    pairwise_dists = torch.cdist(evaluated_feat[start:end], manifold_feat)\n"
         "    comparison_tensor = nn_dists.unsqueeze(0).repeat(pairwise_dists.shape[0], 1)",
         libs(evaluated_feat=lambda: big(50_000, 2048), manifold_feat=lambda: big(1_344_726, 2048),
              nn_dists_of_manifold=lambda: big(1_344_726), BATCH_SIZE=10_000),
         "pairwise", 7, 2 * 10_000 * 1_344_726 * 4,
         note="the nearest-neighbour radii (get_nn_dists) passed in by name"),
    Case("softtriple_diag", GH + "idstcv/SoftTriple/issues/13",
         "minval = np.min(sim) - 1.\nsim -= np.diag(np.diag(sim))\n"
         "sim += np.diag(np.ones(num) * minval)",
         libs(sim=lambda: big_np(122_994, 122_994, dtype=np.float32), num=122_994),
         "expansion", 2, 122_994 ** 2 * 4),
    Case("ogbn_train_papers_self_loops", PYG + " examples/ogbn_train.py (--dataset "
         "ogbn-papers100M --add_self_loop)",
         "if args.add_self_loop:\n"
         "    data.edge_index, _ = remove_self_loops(data.edge_index)\n"
         "    data.edge_index, _ = add_self_loops(data.edge_index,\n"
         "                                        num_nodes=data.num_nodes)",
         libs(data=lambda: graph(**PAPERS), args=lambda: argparse.Namespace(add_self_loop=True)),
         "graph_utility", 2, 25 * 1_615_685_872),
    Case("anomalydae_dense_adjacency", "pygod-team/pygod pygod/models/anomalydae.py "
         "(issue #72)",
         "G.node_idx = torch.arange(G.x.shape[0])\nG.s = to_dense_adj(G.edge_index)[0]",
         libs(G=lambda: Data(x=big(400_480, 64),
                             edge_index=torch.tensor([[0, 400_479], [400_479, 0]]))),
         "dense_adjacency", 2, 400_480 ** 2 * 4 + 400_480 * 8,
         note="edge_index holds real data (its max, 400,479, is read)"),
    Case("clip_retrieval_full_matrix", "mlfoundations/open_clip "
         "tests/test_retrieval_metrics.py _full_matrix_metrics (the get_metrics of issue #11)",
         "logits_per_image = (logit_scale * image_features @ text_features.t()).detach().cpu()\n"
         "logits_per_text = logits_per_image.t().detach().cpu()\n\n"
         "ground_truth = torch.arange(len(text_features)).view(-1, 1)",
         libs(image_features=lambda: big(780_000, 512), text_features=lambda: big(780_000, 512),
              logit_scale=lambda: torch.tensor(100.0)),
         "pairwise", 1, 780_000 ** 2 * 4 + 780_000 * 512 * 4,
         note="features on the CPU (the issue evaluates on the GPU)"),
]

BENIGN = [
    Case("reddit_features_to_gpu", PYG + " examples/reddit.py",
         "data = dataset[0].to(device, 'x', 'y')", libs(dataset=ogb(REDDIT)), "device_copy"),
    Case("reddit_train_loader", PYG + " examples/reddit.py",
         "kwargs = {'batch_size': 1024, 'num_workers': 6, 'persistent_workers': True}\n"
         "train_loader = NeighborLoader(data, input_nodes=data.train_mask,\n"
         "                              num_neighbors=[25, 10], shuffle=True, **kwargs)",
         libs(data=lambda: graph(**REDDIT, **masks(232_965))), "loader"),
    Case("reddit_subgraph_loader", PYG + " examples/reddit.py",
         "subgraph_loader = NeighborLoader(copy.copy(data), input_nodes=None,\n"
         "                                 num_neighbors=[-1], shuffle=False, **kwargs)\n\n"
         "# No need to maintain these features during evaluation:\n"
         "del subgraph_loader.data.x, subgraph_loader.data.y\n"
         "# Add global node index information.\n"
         "subgraph_loader.data.num_nodes = data.num_nodes\n"
         "subgraph_loader.data.n_id = torch.arange(data.num_nodes)",
         libs(data=lambda: graph(**REDDIT, **masks(232_965)),
              kwargs={"batch_size": 1024, "num_workers": 6, "persistent_workers": True}),
         "loader"),
    Case("reddit_model", PYG + " examples/reddit.py",
         "model = SAGE(dataset.num_features, 256, dataset.num_classes).to(device)\n"
         "optimizer = torch.optim.Adam(model.parameters(), lr=0.01)",
         libs(dataset=ogb(REDDIT), SAGE=SAGE), "model"),
    Case("cluster_gcn_reddit_subgraph_loader", PYG + " examples/cluster_gcn_reddit.py",
         "subgraph_loader = NeighborLoader(data, num_neighbors=[-1], batch_size=1024,\n"
         "                                 shuffle=False, num_workers=12)",
         libs(data=lambda: graph(**REDDIT)), "loader"),
    Case("ogbn_train_arxiv_undirected", PYG + " examples/ogbn_train.py (default ogbn-arxiv)",
         "if not args.use_directed_graph:\n"
         "    data.edge_index = to_undirected(data.edge_index, reduce='mean')\n"
         "if args.add_self_loop:\n"
         "    data.edge_index, _ = remove_self_loops(data.edge_index)\n"
         "    data.edge_index, _ = add_self_loops(data.edge_index,\n"
         "                                        num_nodes=data.num_nodes)\n\n"
         "data.to(device, 'x', 'y')",
         libs(data=lambda: graph(**ARXIV), args=None), "graph_utility"),
    Case("products_mlp_to_gpu", OGB + " examples/nodeproppred/products/mlp.py",
         "x = data.x\nx = x.to(device)\n\ny_true = data.y.to(device)\n"
         "train_idx = split_idx['train'].to(device)",
         libs(data=lambda: graph(**PRODUCTS), split_idx={}), "device_copy"),
    Case("arxiv_mlp_to_gpu", OGB + " examples/nodeproppred/arxiv/mlp.py",
         "x = data.x\nx = x.to(device)\n\ny_true = data.y.to(device)\n"
         "train_idx = split_idx['train'].to(device)",
         libs(data=lambda: graph(**ARXIV), split_idx={}), "device_copy"),
    Case("correct_and_smooth_to_gpu", PYG + " examples/correct_and_smooth.py",
         "x, y = data.x.to(device), data.y.to(device)\n"
         "train_idx = split_idx['train'].to(device)",
         libs(data=lambda: graph(**PRODUCTS), split_idx={}), "device_copy"),
    Case("unimp_arxiv_to_gpu", PYG + " examples/unimp_arxiv.py",
         "data = dataset[0].to(device)", libs(dataset=ogb(ARXIV)), "device_copy"),
    Case("gcn_cora", PYG + " examples/gcn.py", "data = dataset[0].to(device)",
         libs(dataset=ogb(CORA)), "device_copy"),
    Case("linkx_penn94", PYG + " examples/linkx.py", "data = dataset[0].to(device)",
         libs(dataset=ogb(PENN94)), "device_copy"),
    Case("captum_hetero_user_eye", PYG + " examples/explain/captum_explainer_hetero_link.py",
         "data = dataset[0].to(device)\n\n# Add user node features for message passing:\n"
         "data['user'].x = torch.eye(data['user'].num_nodes, device=device)\n"
         "del data['user'].num_nodes",
         libs(dataset=lambda: Stored(movielens(), {"x": torch.tensor([0, 1])})),
         "hetero"),
    Case("to_hetero_mag_to_gpu", PYG + " examples/hetero/to_hetero_mag.py",
         "data = dataset[0].to(device, 'x', 'y')\n\n"
         "train_input_nodes = ('paper', data['paper'].train_mask)\n"
         "val_input_nodes = ('paper', data['paper'].val_mask)",
         libs(dataset=lambda: Stored(mag(), {"x": torch.tensor([0, 1])})), "hetero"),
    Case("hgt_dblp_to_gpu", PYG + " examples/hetero/hgt_dblp.py",
         "data, model = data.to(device), model.to(device)",
         libs(data=dblp, model=lambda: torch.nn.Linear(4, 4)), "hetero"),
    Case("graph_saint_full_test", PYG + " examples/graph_saint.py (Flickr)",
         "model.eval()\nout = model(data.x.to(device), data.edge_index.to(device))\n"
         "pred = out.argmax(dim=-1)\ncorrect = pred.eq(data.y.to(device))",
         libs(data=lambda: graph(**FLICKR),
              model=lambda: torch.nn.ModuleList([GCNConv(500, 256), GCNConv(256, 256)])),
         "message_passing"),
    Case("papers100m_dataset_and_loader", PYG + " examples/multi_gpu/papers100m_gcn.py",
         "data = dataset[0]\n"
         "train_loader = NeighborLoader(data, input_nodes=split_idx['train'],\n"
         "                              num_neighbors=[15, 10], batch_size=1024,\n"
         "                              shuffle=True, drop_last=True)",
         libs(dataset=ogb(PAPERS), split_idx={}), "loader"),
    Case("deepergcn_self_loops", "lightaime/deep_gcns_torch examples/ogb/ogbn_products/"
         "test.py",
         "if args.self_loop:\n"
         "    graph.edge_index = add_self_loops(edge_index=graph.edge_index,\n"
         "                                      num_nodes=graph.num_nodes)[0]",
         libs(graph=lambda: graph(**PRODUCTS), args=None), "graph_utility"),
    Case("torch_svd_transposed", GH + "pytorch/pytorch/issues/24900",
         "N=150000\nX = torch.randn((N,4))\nU,S,V = torch.svd(torch.t(X))", libs(),
         "linalg"),
    Case("loader_batch_size_1e10", GH + "pytorch/pytorch/issues/80493",
         "X = torch.randn(50, 1)\ndataset = data.TensorDataset(X)\n\n# works fine\n"
         "loader = data.DataLoader(dataset, batch_size=7)\nfor batch in loader:\n    pass\n\n"
         "# breaks\nloader = data.DataLoader(dataset, batch_size=int(1e10))\n"
         "for batch in loader:\n    pass",
         libs(data=torch.utils.data), "loader",
         note="fixed since (BatchSampler no longer allocates batch_size slots)"),
    Case("cdist_batched_16gb", GH + "pytorch/pytorch/issues/37754",
         'a=torch.randn(4,6890,1000, device="cuda", requires_grad=True)\n'
         'b=torch.randn(4,8690,1000, device="cuda", requires_grad=True)\n'
         "c=torch.cdist(a,b)\nc.sum().backward()", libs(), "pairwise"),
    Case("einsum_xla_chain", GH + "pytorch/xla/issues/1785",
         "tensor_1 = torch.rand([5856, 3, 3], device=device)\n"
         "tensor_2 = torch.rand(3, device=device)\n"
         "tensor_3 = torch.rand([40000, 3], device=device)\n\n"
         "eijk = torch.zeros((3, 3, 3), device=device, dtype=torch.float32)\n"
         "eijk[0, 1, 2] = eijk[1, 2, 0] = eijk[2, 0, 1] = 1\n"
         "eijk[0, 2, 1] = eijk[2, 1, 0] = eijk[1, 0, 2] = -1\n"
         "eps = torch.tensor(0.000001, device=device, dtype=torch.float32)\n\n"
         "tensor_14 = tensor_1[:, 0, :] - tensor_1[:, 1, :]\n"
         "tensor_15 = tensor_1[:, 0, :] - tensor_1[:, 2, :]\n"
         "tensor_4 = torch.einsum('ijk,uj,vk->uvi', eijk, tensor_3, tensor_15)\n\n"
         "tensor_5 = torch.einsum('ijk,jk->ij', tensor_4, tensor_14)",
         libs(device="cpu"), "expansion", note="device = 'cpu', as the issue's comment "
         "shows it run"),
    Case("matmul_chain_vs_einsum", GH + "pytorch/pytorch/issues/28943",
         "x = torch.randn(100, 128, 512, requires_grad=True)\n"
         "y = torch.randn(100, 128, 512, requires_grad=True)\n"
         "w = torch.randn(50, 512, 512, requires_grad=True)\n"
         "s = (x.unsqueeze(1) @ w @ y.unsqueeze(1).transpose(-1,-2))\n"
         "s2 = torch.einsum('bxi,oij,byj->boxy', x, w, y)", libs(), "pairwise"),
    Case("to_dense_batch_dd", GH + "pyg-team/pytorch_geometric/issues/1328",
         "for i, data in enumerate(train_loader):\n        a, b = to_dense_batch(data.x)",
         libs(train_loader=lambda: DataLoader([Data(x=big(263, 89),
                                                    edge_index=big(2, 1_312,
                                                                   dtype=torch.long))] * 1_178,
                                              batch_size=50)),
         "loader"),
    Case("igraph_dense_adjacency", GH + "igraph/python-igraph/issues/111",
         "n = G.vcount()\na = np.zeros((n, n))\nrows, cols = zip(*G.get_edgelist())\n"
         "a[rows, cols] = 1", libs(G=object()), "dense_constructor",
         note="G is an igraph Graph: unknown to the predictor (27,885 nodes, 5.8 GiB)"),
    Case("sgc_reddit_features", "Tiiiger/SGC utils.py load_reddit_data",
         "features = torch.FloatTensor(np.array(features))\n"
         "features = (features-features.mean(dim=0))/features.std(dim=0)",
         libs(features=lambda: big_np(232_965, 602)), "elementwise"),
    Case("numpy_inv_eye_50000", GH + "numpy/numpy/issues/5898",
         "A = np.eye(50000)\n\nA\n\nX = np.linalg.inv(A)\n\nX.shape\n\nnp.abs(X).sum()",
         libs(), "linalg", ram=138_568_436 * 1024,
         note="the reporter's 138 GB of free memory: the 80 GB it takes fits"),
    Case("papers100m_mlp_split", OGB + " examples/nodeproppred/papers100M/mlp.py",
         "train_dataset = SimpleDataset(x[split_idx['train']], y[split_idx['train']])\n"
         "valid_dataset = SimpleDataset(x[split_idx['valid']], y[split_idx['valid']])\n"
         "test_dataset = SimpleDataset(x[split_idx['test']], y[split_idx['test']])",
         libs(x=lambda: big(111_059_956, 128), y=lambda: big(111_059_956, dtype=torch.long),
              split_idx=lambda: {"train": big(1_207_179, dtype=torch.long),
                                 "valid": big(125_265, dtype=torch.long),
                                 "test": big(214_338, dtype=torch.long)},
              SimpleDataset=TensorDataset), "gather"),
    Case("openne_hope_blogcatalog", "thunlp/OpenNE src/openne/hope.py (BlogCatalog)",
         "A = nx.to_numpy_matrix(graph)\n\n# self._beta = 0.0728\n\n"
         "# M_g = np.eye(graph.number_of_nodes()) - self._beta * A\n# M_l = self._beta * A\n\n"
         "M_g = np.eye(graph.number_of_nodes())\nM_l = np.dot(A, A)\n\n"
         "S = np.dot(np.linalg.inv(M_g), M_l)",
         libs(graph=lambda: nx_graph(10_312)), "linalg"),
    Case("openne_grarep_svd", "thunlp/OpenNE src/openne/grarep.py GetRepUseSVD (BlogCatalog)",
         "U, S, VT = la.svd(probTranMat)\nUd = U[:, 0:dim]\nSd = S[0:dim]\n"
         "rep = np.array(Ud)*np.power(Sd, alpha).reshape((dim))",
         libs(probTranMat=lambda: big_np(10_312, 10_312), la=lambda: np.linalg, dim=32,
              alpha=0.5), "linalg"),
    Case("causal_attention_mask", GH + "rasbt/LLMs-from-scratch/issues/60 (ch03 "
         "CausalAttention, GPT-2's 1,024-token context)",
         "mask = torch.triu(torch.ones(block_size, block_size), diagonal=1)\n"
         "b, num_tokens, d_in = x.shape # New batch dimension b\n"
         "keys = W_key(x)\nqueries = W_query(x)\nvalues = W_value(x)\n\n"
         "attn_scores = queries @ keys.transpose(1, 2) # Changed transpose\n"
         "attn_scores.masked_fill_(  # New, _ ops are in-place\n"
         "    mask.bool()[:num_tokens, :num_tokens], -torch.inf)\n"
         "attn_weights = torch.softmax(attn_scores / keys.shape[-1]**0.5, dim=-1)",
         libs(block_size=1024, x=lambda: big(8, 1024, 768),
              W_key=lambda: torch.nn.Linear(768, 768),
              W_query=lambda: torch.nn.Linear(768, 768),
              W_value=lambda: torch.nn.Linear(768, 768)), "pairwise"),
    Case("ogbn_train_products_self_loops", PYG + " examples/ogbn_train.py (--dataset "
         "ogbn-products --add_self_loop)",
         "if args.add_self_loop:\n"
         "    data.edge_index, _ = remove_self_loops(data.edge_index)\n"
         "    data.edge_index, _ = add_self_loops(data.edge_index,\n"
         "                                        num_nodes=data.num_nodes)",
         libs(data=lambda: graph(**PRODUCTS),
              args=lambda: argparse.Namespace(add_self_loop=True)), "graph_utility"),
    Case("cluster_gcn_ppi_batch", PYG + " examples/cluster_gcn_ppi.py",
         "train_data = Batch.from_data_list(train_dataset)",
         libs(train_dataset=lambda: Stored(
             Data(x=big(44_906, 50), edge_index=big(2, 1_226_368, dtype=torch.long),
                  y=big(44_906, 121)),
             {"x": torch.linspace(0, 44_906, 21).long()})), "batching"),
    Case("pygat_load_cora", "Diego999/pyGAT utils.py load_data (Cora)",
         "adj = torch.FloatTensor(np.array(adj.todense()))\n"
         "features = torch.FloatTensor(np.array(features.todense()))\n"
         "labels = torch.LongTensor(np.where(labels)[1])",
         libs(adj=lambda: csr(2708, dtype=np.float32), features=lambda: csr(2708, 1433,
                                                                          np.float32),
              labels=lambda: np.zeros((2708, 7), dtype=np.int32)), "dense_adjacency"),
    Case("anomalydae_cora", "pygod-team/pygod pygod/models/anomalydae.py (Cora)",
         "G.node_idx = torch.arange(G.x.shape[0])\nG.s = to_dense_adj(G.edge_index)[0]",
         libs(G=lambda: Data(x=big(2_708, 1_433),
                             edge_index=torch.tensor([[0, 2_707], [2_707, 0]]))),
         "dense_adjacency"),
    Case("grace_similarity_dblp", "CRIPAC-DIG/GRACE model.py (Model.sim, DBLP)",
         "z1 = F.normalize(z1)\nz2 = F.normalize(z2)\ns = torch.mm(z1, z2.t())",
         libs(z1=lambda: big(17_716, 256), z2=lambda: big(17_716, 256)), "pairwise"),
]

# -- PyTorch's own decompositions, NumPy broadcasting from Q&A threads ------------------
SO = "https://stackoverflow.com/questions/"
DBP15K_ZH, DBP15K_EN = 19_388, 19_572  # DBP15K zh_en's entities (PyG's DBP15K)

# BIT-DA/MetaSAug loss.py, EstimatorCV.__init__
METASAUG_ESTIMATOR = (
    "self.class_num = class_num\n"
    "self.CoVariance = torch.zeros(class_num, feature_num, feature_num).cuda()\n"
    "self.Ave = torch.zeros(class_num, feature_num).cuda()\n"
    "self.Amount = torch.zeros(class_num).cuda()")

RISKY += [
    Case("combinations_52_choose_7", GH + "pytorch/pytorch/issues/119453",
         "torch.combinations(torch.arange(52), r=7)", libs(), "expansion", 1,
         # a bool N^r mask and a comparison temporary, masked_select's int64 copy of the
         # mask and its prefix sum (18 bytes per N^r element), then r selections of C
         18 * 52 ** 7 + 133_784_560 * 7 * 8),
    Case("combinations_complex_with_replacement", GH + "pytorch/pytorch/issues/153337",
         "import torch\n\n"
         "tensor = torch.tensor([-1.7267e-23+5.2018e-31j, -2.3499e+36-1.3891e-03j,\n"
         "        -5.1408e-37-2.9564e+04j,  1.9863e-35-2.4211e+23j,\n"
         "        -6.4697e+17+3.1194e+21j,  3.6179e+11-2.0433e+20j,\n"
         "         2.2603e+24-9.4820e+33j, -5.3270e-36-3.4165e-32j,\n"
         "         6.8278e+34+1.7954e-29j, -3.7343e-03-6.3649e+25j,\n"
         "        -1.2775e+17-5.5035e-17j])\n\n"
         "torch.combinations(tensor, 10, with_replacement=True)",
         libs(), "expansion", 10, 18 * 11 ** 10 + 184_756 * 10 * 8 + 11 * 8),
    Case("nsg_repeat_interleave", "OPEN-AIR-SUN/mars nsg/data/nsg_dataparser.py "
         "(issue #47)",
         "input_size = 0\n\nobj_nodes_tensor = torch.from_numpy(obj_nodes)\n"
         "# if self.config.fast_loading:\n#     obj_nodes_tensor = obj_nodes_tensor.cuda()\n"
         "print(obj_nodes_tensor.shape)\n"
         "obj_nodes_tensor = obj_nodes_tensor[:, :, None, ...].repeat_interleave("
         "image_width, dim=2)\n"
         "print(obj_nodes_tensor.shape)\nprint(image_width,'*',image_height)\n"
         "obj_nodes_tensor = obj_nodes_tensor[:, :, None, ...].repeat_interleave("
         "image_height, dim=2)",
         libs(obj_nodes=lambda: big_np(512, 14, 3, dtype=np.float32), image_width=1242,
              image_height=375),
         "expansion", 10, 512 * 14 * 375 * 1242 * 3 * 4 + 512 * 14 * 1242 * 3 * 4,
         note="obj_nodes sized by the issue's own arithmetic (512 x 14 x 1242 x 3 x 375 "
              "x 4 bytes), the KITTI image 1242 x 375"),
    Case("einsum_left_to_right", GH + "pytorch/pytorch/issues/114943",
         "import torch\n\nn = 500\nA = torch.randn(n, n, device=\"cuda:0\")\n"
         "B = torch.randn(n, n, device=\"cuda:0\")\nC = torch.randn(n, n, device=\"cuda:0\")\n"
         "D1 = A @ (B**2) @ C\nD2 = torch.einsum(\"ij,jk,kl,jk->il\", A, B, C, B)\n"
         "print(\"Relative error:\", torch.linalg.norm(D1 - D2) / torch.linalg.norm(D1))",
         libs(), "expansion", 8,
         # without opt_einsum, torch contracts left to right: j and k stay until the last
         # operand, so ij,jk,kl makes an ijkl product, permuted into a copy for the bmm
         2 * 500 ** 4 * 4, "cuda:0"),
    Case("dgmc_top_k_broadcast", "rusty1s/deep-graph-matching-consensus dgmc/models/"
         "dgmc.py __top_k__ before 3a2eff6 (issue #4, DBP15K zh_en)",
         "x_s, x_t = x_s.unsqueeze(-2), x_t.unsqueeze(-3)\n"
         "S_ij = (x_s * x_t).sum(dim=-1)\nS_idx = S_ij.topk(self.k, dim=2)[1]",
         libs(x_s=lambda: big(1, DBP15K_ZH, 256), x_t=lambda: big(1, DBP15K_EN, 256),
              self=lambda: argparse.Namespace(k=10)),
         "expansion", 2, DBP15K_ZH * DBP15K_EN * 256 * 4,
         note="the embeddings (args.dim = 256) on the CPU, the issue's on the GPU; "
              "`return` made an assignment"),
    Case("metasaug_covariance", GH + "BIT-DA/MetaSAug/issues/4 (loss.py EstimatorCV, "
         "ImageNet-LT)",
         METASAUG_ESTIMATOR,
         libs(self=lambda: argparse.Namespace(), class_num=1000, feature_num=2048),
         "dense_constructor", 2, 1000 * 2048 * 2048 * 4,
         note="the issue's feature_num 2048 with ImageNet-LT's 1,000 classes; the zeros "
              "are made on the CPU first, where they do not fit"),
    Case("l2_distance_broadcast", SO + "32856726 (memory-efficient L2 norm using Python "
         "broadcasting)",
         "import numpy as np\n"
         "dist = np.sqrt(np.sum( (test[:,np.newaxis] - train)**2, axis=2))",
         libs(test=lambda: big_np(500, 1024), train=lambda: big_np(10_000, 1024)),
         "pairwise", 2, 500 * 10_000 * 1024 * 8),  # ** 2 squares the difference in place
    Case("pairwise_squared_differences", SO + "32415061 (efficient NumPy computation of "
         "pairwise squared differences)",
         "((a - a.swapaxes(1,2))**2).sum(axis=0)",
         libs(a=lambda: big_np(1_000_000, 1, 2904)), "pairwise", 1,
         1_000_000 * 2904 ** 2 * 8,  # the difference, squared in place
         note="the question's million vectors of length 2904, reshaped to (N, 1, M)"),
    Case("pairwise_squared_differences_chunks", SO + "32415061 (the chunked answer)",
         "m, _, n = a.shape\nchunksize = 10**4\nd = np.zeros((n,n))\n"
         "for i in range(0, m, chunksize):\n    b = a[i:i+chunksize]\n"
         "    d += ((b - b.swapaxes(1,2))**2).sum(axis=0)",
         libs(a=lambda: big_np(1_000_000, 1, 2904)), "pairwise", 6,
         10_000 * 2904 ** 2 * 8 + 2904 ** 2 * 8,
         note="a chunk of 10**4 vectors still makes 10**4 x 2904 x 2904"),
]

BENIGN += [
    Case("dgmc_top_k_matmul", "rusty1s/deep-graph-matching-consensus dgmc/models/dgmc.py "
         "__top_k__ (DBP15K zh_en)",
         "x_s = x_s  # [..., n_s, d]\nx_t = x_t.transpose(-1, -2)  # [..., d, n_t]\n"
         "S_ij = x_s @ x_t\nS_idx = S_ij.topk(self.k, dim=2)[1]",
         libs(x_s=lambda: big(1, DBP15K_ZH, 256), x_t=lambda: big(1, DBP15K_EN, 256),
              self=lambda: argparse.Namespace(k=10)), "pairwise"),
    Case("metasaug_covariance_cifar", "BIT-DA/MetaSAug loss.py EstimatorCV "
         "(MetaSAug_LDAM_train.py: 64 features, CIFAR-100)",
         METASAUG_ESTIMATOR,
         libs(self=lambda: argparse.Namespace(), class_num=100, feature_num=64),
         "dense_constructor"),
    Case("l2_distance_matmul", SO + "32856726 (the answer)",
         "m = x.shape[0] # x has shape (m, d)\nn = y.shape[0] # y has shape (n, d)\n"
         "x2 = np.sum(x**2, axis=1).reshape((m, 1))\n"
         "y2 = np.sum(y**2, axis=1).reshape((1, n))\n"
         "xy = x.dot(y.T) # shape is (m, n)\n"
         "dists = np.sqrt(x2 + y2 - 2*xy) # shape is (m, n)",
         libs(x=lambda: big_np(500, 1024), y=lambda: big_np(10_000, 1024)), "pairwise"),
    Case("abs_pairwise_1000", "https://huggingface.co/datasets/nvidia/Nemotron-CC-Math-v1"
         " (a Q&A page: 'Fastest pairwise distance metric in python')",
         "import numpy as np\nimport random\n\n"
         "r = np.array([random.randrange(1, 1000) for _ in range(0, 1000)])\n"
         "dists = np.abs(r - r[:, None])", libs(), "pairwise"),
    Case("to_dense_adj_50000_cpu", GH + "pyg-team/pytorch_geometric/issues/5101",
         "adj = to_dense_adj(batch.edge_index)",
         libs(batch=lambda: Data(x=big(50_000, 16),
                                 edge_index=torch.tensor([[0, 49_999], [49_999, 0]]))),
         "dense_adjacency", note="reconstructed: the issue gives the 50,000 nodes and "
         "that it runs on the CPU (about 10 GB); edge_index holds real data"),
    Case("numpy_einsum_no_optimize", GH + "cupy/cupy/issues/4834 (NumPy's run)",
         "import numpy\n\nw = numpy.zeros((100000, 100))\nc = numpy.zeros((20, 100, 100))\n"
         "numpy.einsum('ab,cbe,ae->ac', w, c, w, optimize=False)", libs(), "expansion"),
    Case("deepergcn_arxiv_inputs", "lightaime/deep_gcns_torch examples/ogb/ogbn_arxiv/"
         "main.py",
         "data = dataset[0]\n"
         "split_idx = dataset.get_idx_split()\n\nevaluator = Evaluator(args.dataset)\n\n"
         "x = data.x.to(device)\ny_true = data.y.to(device)\n"
         "train_idx = split_idx['train'].to(device)\n\n"
         "edge_index = data.edge_index.to(device)\n"
         "edge_index = to_undirected(edge_index, data.num_nodes)\n\n"
         "if args.self_loop:\n"
         "    edge_index = add_self_loops(edge_index, num_nodes=data.num_nodes)[0]\n\n"
         "sub_dir = 'SL_{}'.format(args.self_loop)\n\n"
         "args.in_channels = data.x.size(-1)\nargs.num_tasks = dataset.num_classes",
         libs(dataset=ogb(ARXIV),
              args=lambda: argparse.Namespace(dataset="ogbn-arxiv", self_loop=True)),
         "graph_utility", note="from `data = dataset[0]` on, the dataset loaded before"),
]

MAG240M_PAPERS = 121_751_666

RISKY += [
    Case("deeph_overlap_toarray", "mzjb/DeepH-pack deeph/preprocess/abacus_get_data.py "
         "parse_matrix (issue #77)",
         "hamiltonian_cur = csr_matrix((np.array(line2).astype(float), "
         "np.array(line3).astype(int),\n"
         "                              np.array(line4).astype(int)), "
         "shape=(norbits, norbits)).toarray()",
         libs(csr_matrix=sp.csr_matrix, line2=["1.0", "0.5"], line3=["0", "1"],
              line4=["0", "1", "2"], norbits=910_224),
         "dense_adjacency", 1, 910_224 ** 2 * 8,
         note="the issue's 910,224 orbitals; one row block's few values as read from "
              "SR.csr"),
    Case("papers100m_node2vec_undirected", OGB + " examples/nodeproppred/papers100M/"
         "node2vec.py",
         "data = dataset[0]\n\nprint('Making the graph undirected.')\n"
         "### Randomly drop some edges to avoid segmentation fault\n"
         "data.edge_index, _ = dropout_edge(data.edge_index, p = args.dropedge_rate)\n"
         "data.edge_index = to_undirected(data.edge_index, data.num_nodes)",
         libs(dataset=ogb(PAPERS), dropout_edge=lambda: torch_geometric.utils.dropout_edge,
              args=lambda: argparse.Namespace(dropedge_rate=0.4)),
         "graph_utility", 6, 194 * int(0.6 * 1_615_685_872) + 1_615_685_872),
    Case("mag240m_label_prop", OGB + " examples/lsc/mag240m/label_prop.py",
         "N, C = dataset.num_papers, dataset.num_classes\n\nt = time.perf_counter()\n"
         "print('Propagating labels...', end=' ', flush=True)\nif args.low_memory:\n"
         "    y = torch.zeros(N, C, dtype=torch.half)\n"
         "    y[train_idx] = F.one_hot(y_train, C).to(torch.half)\n"
         "    out = model(y, adj_t, post_step=lambda x: x)\n"
         "    y_pred = out.argmax(dim=-1)\nelse:\n    y = torch.zeros(N, C)\n"
         "    y[train_idx] = F.one_hot(y_train, C).to(torch.float)\n"
         "    out = model(y, adj_t)\n    y_pred = out.argmax(dim=-1)",
         libs(dataset=lambda: argparse.Namespace(num_papers=MAG240M_PAPERS, num_classes=153),
              args=lambda: argparse.Namespace(low_memory=False),
              y_train=lambda: labels(1_112_392, 153),
              train_idx=lambda: big(1_112_392, dtype=torch.long)),
         "dense_constructor", 11, MAG240M_PAPERS * 153 * 4,
         note="dataset stands in for MAG240MDataset with its two counts; the README asks "
              "for up to 256 GB of RAM, judged here against a Colab session"),
]

BENIGN += [
    Case("mag240m_mlp_features", OGB + " examples/lsc/mag240m/mlp.py",
         "x_train = dataset.paper_feat[train_idx]\n"
         "x_train = torch.from_numpy(x_train).to(torch.float).to(device)\n"
         "y_train = torch.from_numpy(dataset.paper_label[train_idx])",
         libs(dataset=lambda: argparse.Namespace(
             paper_feat=big_np(MAG240M_PAPERS, 768, dtype=np.float16),
             paper_label=big_np(MAG240M_PAPERS)),
             train_idx=lambda: big_np(1_112_392, dtype=np.int64)),
         "gather", note="dataset stands in for MAG240MDataset with its feature and label "
         "arrays (float16 features)"),
    Case("pairwise_difference_768", "https://whosebug.com/question/6560272 (Understanding "
         "broadcasting and arithmetic operations on different dimension tensors)",
         ">>> diff = A[None]-B[:,None]\n>>> diff.shape".replace(">>> ", ""),
         libs(A=lambda: big(867, 768), B=lambda: big(621, 768)), "pairwise"),
]

RISKY += [
    Case("torch_empty_1e15", GH + "pytorch/pytorch/pull/20618 (its description)",
         ">>> torch.empty(10**15)".replace(">>> ", ""), libs(), "dense_constructor", 1,
         4 * 10 ** 15),
    Case("tile_mask_over_time", SO + "23695851 (repeating numpy array without "
         "replicating data)",
         "import numpy\nmask = numpy.tile(array, (nz,1,1))",
         libs(array=lambda: big_np(2000, 1500, dtype=np.int64), nz=700), "expansion", 2,
         700 * 2000 * 1500 * 8,
         note="the question's call and sizes (y=2000, x=1500, z=700); the array int64, as "
              "the answer's np.arange stand-in"),
    Case("gram_matrix_240001", "https://huggingface.co/datasets/nvidia/Nemotron-CC-Math-v1"
         " (numpy-discussion, 'Covariance Matrix', Johannes Eckstein, 2012-02-13)",
         "M = np.dot(X, X.conj().T)", libs(X=lambda: big_np(240_001, 4)), "pairwise", 1,
         240_001 ** 2 * 8,
         note="reconstructed: the post gives X's shape (240001, 4) and M = X X^H, "
              "written with np.dot (the post used np.matrix)"),
]

BENIGN += [
    Case("covariance_over_time_outer", "https://codedump.io/share/BYonnluCofZ0/1/"
         "numpy-way-of-doing-outer-product-of-list",
         "B = np.sum(np.array([np.outer(x, x) for x in X]),axis=0)\n"
         "B = np.true_divide(B, len(X))", libs(X=lambda: big_np(60_000, 100)), "expansion",
         note="the 60000 x 100 matrix: 4.5 GiB of outer products, twice, fits"),
    Case("broadcast_arrays_mask", SO + "23695851 (the answer)",
         "import numpy as np\n\nM = np.arange(1500*2000).reshape(1500, 2000)\n"
         "z = np.zeros(700)\n\n# broadcasting over the first dimension\n"
         "_, M_broadcast = np.broadcast_arrays(z[:, None, None], M[None, ...])\n\n"
         "print(M_broadcast.shape, M_broadcast.flags.owndata)", libs(), "expansion"),
]

TEXTGCN_20NG = 61_603  # 18,846 documents and 42,757 words

RISKY += [
    Case("textgcn_support_tensor", "iworldtong/text_gcn.pytorch train.py (issue #1, 20ng)",
         "t_support = []\nfor i in range(len(support)):\n"
         "    t_support.append(torch.Tensor(support[i]))",
         libs(support=lambda: [big_np(TEXTGCN_20NG, TEXTGCN_20NG)]), "device_copy", 3,
         TEXTGCN_20NG ** 2 * 4,
         note="support holds preprocess_adj's dense float64 matrix; torch.Tensor copies "
              "it as float32"),
    Case("textgcn_preprocess_features", "iworldtong/text_gcn.pytorch train.py and "
         "utils/utils.py preprocess_features (issue #1, 20ng)",
         "features = sp.identity(features.shape[0])  # featureless\n"
         "rowsum = np.array(features.sum(1))\nr_inv = np.power(rowsum, -1).flatten()\n"
         "r_inv[np.isinf(r_inv)] = 0.\nr_mat_inv = sp.diags(r_inv)\n"
         "features = r_mat_inv.dot(features)\n# return sparse_to_tuple(features)\n"
         "features = features.A",
         libs(features=lambda: csr(TEXTGCN_20NG, 300)), "dense_adjacency", 8,
         TEXTGCN_20NG ** 2 * 8,
         note="the function's body with `return features.A` made an assignment"),
    Case("pynbs_knn_laplacian", "idekerlab/pyNBS pyNBS/pyNBS_core.py network_inf_KNN_glap "
         "(the 119,290-node network of issue #3)",
         "glap_inv_starttime = time.time()\n# Construct network laplacian matrix\n"
         "network_nodes = list(network.nodes)\n"
         "L_arr = nx.laplacian_matrix(network).todense()\n"
         "# Adjust diagonal of laplacian matrix by small gamma as seen in Vandin 2011\n"
         "L_vandin = L_arr + gamma*np.identity(len(network_nodes))\n"
         "L_inv_arr = np.linalg.inv(L_vandin)",
         libs(network=lambda: nx_graph(119_290), gamma=0.01), "dense_adjacency", 4,
         119_290 ** 2 * 8),
]
