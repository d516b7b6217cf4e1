"""Reading the live namespace: datasets, loaders, graphs and hostile look-alikes."""
from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import Data
from torch_geometric.datasets import FakeDataset
from torch_geometric.loader import DataLoader

from oomguard.predict import predict
from oomguard.predict.resolve import Resolver
from oomguard.predict.rules import names_by_family
from oomguard.predict.values import Arr, Graph, GraphList, Loader, NxGraph, SparseMat


def resolver():
    return Resolver(names_by_family())


def test_in_memory_dataset_full_batch_bytes_match_the_collated_data():
    dataset = FakeDataset(num_graphs=50, avg_num_nodes=200, num_channels=16)
    data = dataset._data
    expected = sum(t.numel() * t.element_size() for _, t in data.items()
                   if isinstance(t, torch.Tensor)) + data.num_nodes * 8 + 51 * 8
    [finding] = predict("loader = DataLoader(ds, batch_size=len(ds))",
                        {"ds": dataset, "DataLoader": DataLoader}, ram_available=1 << 20)
    assert finding.kind == "full_batch_loader" and finding.bytes == expected
    assert finding.risky


def test_loader_in_namespace_yields_its_batch_when_iterated():
    graphs = [Data(x=torch.zeros(1).expand(100_000, 256),
                   edge_index=torch.zeros(1, dtype=torch.long).expand(2, 3_000_000))
              for _ in range(8)]
    loader = DataLoader(graphs, batch_size=8)
    value = resolver().value(loader)
    assert isinstance(value, Loader) and value.batch_size == 8
    assert isinstance(value.dataset, GraphList) and value.dataset.count == 8
    cell = "for batch in loader:\n    out = model(batch.x, batch.edge_index)"
    findings = predict(cell, {"loader": loader, "model": torch.nn.Linear(2, 2)},
                       ram_available=1 << 30)
    [finding] = [f for f in findings if f.line == 2]
    assert finding.kind == "message_passing"
    assert finding.bytes == 8 * 3_000_000 * 256 * 4 and finding.risky


def test_values_of_known_types():
    r = resolver()
    t = r.value(torch.zeros(1, dtype=torch.float16).expand(7, 9))
    assert t == Arr("torch", (7, 9), "float16", "cpu")
    assert r.value(np.zeros((3, 4), dtype=np.int32)) == Arr("numpy", (3, 4), "int32")
    assert r.value(torch.empty(5, 6, device="meta")).device == "cpu"  # stands for a tensor
    assert r.value(nx.path_graph(12)) == NxGraph(12)
    assert r.value(sp.eye(30, format="csr", dtype=np.float32)) == SparseMat((30, 30), "float32", 30)
    graph = r.value(Data(x=torch.zeros(4, 3), edge_index=torch.zeros(2, 6, dtype=torch.long)))
    assert isinstance(graph, Graph) and (graph.num_nodes, graph.num_edges) == (4, 6)
    assert graph.tensor("edge_index").num_nodes == 4
    assert r.value(torch.Size([2, 3])) == (2, 3)
    assert r.value((1, (2, 3))) == (1, (2, 3))
    assert r.value(10 ** 200) is not 10 ** 200  # a huge int is unknown, not a size


class SneakyData(Data):
    """A Data subclass whose Python-level attribute machinery must never run."""

    def __getattr__(self, name):
        raise AssertionError("__getattr__ ran: " + name)

    @property
    def num_nodes(self):
        raise AssertionError("num_nodes property ran")


class Impostor:
    """Claims to be a tensor through __class__: only type() counts."""
    __class__ = torch.Tensor  # type: ignore[assignment]
    shape = property(lambda self: (_ for _ in ()).throw(AssertionError("shape ran")))


def test_hostile_look_alikes_are_not_run():
    sneaky = SneakyData(x=torch.zeros(10, 2))
    value = resolver().value(sneaky)
    assert isinstance(value, Graph) and value.num_nodes == 10
    assert predict("y = impostor.clone()\nz = sneaky.x.clone()",
                   {"impostor": Impostor(), "sneaky": sneaky}, ram_available=1) == []
