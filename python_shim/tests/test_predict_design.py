"""The predictor's design pieces one by one: meta evaluation (what may be called, what
it must never do, the transient peaks of decomposed calls), bounded reads of index
maxima, exact vs estimated findings, NumPy's temporary elision, loops, and the named
fixes of issue 9 (loaders, NeighborLoader, message widths, attributes moved by .to)."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_geometric  # noqa: F401  (loads torch's shape machinery, as in a PyG session)
from torch.utils.data import DataLoader as TorchLoader, TensorDataset
from torch_geometric.data import Data, HeteroData
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_dense_adj

from oomguard.predict import predict, rules
from oomguard.predict.budget import Budget
from oomguard.predict.reads import MaxReader
from oomguard.predict.resolve import Resolver
from oomguard.predict.values import Arr
from oomguard.predict.torchmeta import MetaTorch
from predict_corpus import big, big_np

SHIM = str(Path(__file__).resolve().parents[1])
GiB = 1 << 30
RAM = 12 * GiB


def run_python(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SHIM)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def worst(cell, namespace, line=None, **available):
    available.setdefault("ram_available", RAM)
    available.setdefault("vram_available", 15 * GiB)
    findings = [f for f in predict(cell, dict(namespace), budget_s=1.0, **available)
                if line is None or f.line == line]
    return max(findings, key=lambda f: f.peak_bytes) if findings else None


# -- meta evaluation: the allow-list ------------------------------------------------------
def test_allow_list_comes_from_the_registry_and_leaves_out_impure_calls():
    meta = MetaTorch.get()
    assert meta is not None
    for path in ("torch.einsum", "torch.cdist", "torch.matmul", "torch.repeat_interleave",
                 "torch.nn.functional.pad", "torch.linalg.solve", "torch.kron"):
        assert meta.function(path) is not None, path
    for path in ("torch.manual_seed", "torch.save", "torch.load", "torch.from_file",
                 "torch.set_default_dtype", "torch.cuda.synchronize", "torch.relu_",
                 "torch.tensor", "torch.as_tensor", "torch.from_numpy", "torch.vmap",
                 "torch.compile", "torch.func.grad"):
        assert meta.function(path) is None, path
    for name in ("add_", "copy_", "to", "cuda", "numpy", "tolist", "item", "apply_",
                 "backward", "register_hook", "data_ptr", "_values"):
        assert meta.method(name) is None, name
    assert meta.method("repeat") is not None and meta.method("topk") is not None


def test_meta_evaluation_waits_for_torchs_shape_machinery_and_imports_nothing():
    result = run_python(
        "import sys, json\nimport torch\n"
        "from oomguard.predict import predict\n"
        "from oomguard.predict.torchmeta import MetaTorch\n"
        "before = set(sys.modules)\n"
        "ns = {'torch': torch, 'x': torch.zeros(1).expand(50_000, 64)}\n"
        "found = predict('y = x @ x.T\\nz = torch.cdist(x, x)\\nw = torch.zeros(60_000, 60_000)',\n"
        "                ns, ram_available=1 << 30)\n"
        "print(json.dumps({'new': sorted(set(sys.modules) - before),\n"
        "                  'meta': MetaTorch.get() is not None,\n"
        "                  'lines': [f.line for f in found if f.risky]}))\n")
    assert result["meta"] is False
    # the hand rules stand in; nothing at all is imported (torch's meta kernels would
    # import sympy and hundreds of modules on first use)
    assert [m for m in result["new"] if not m.startswith("oomguard")] == []
    assert result["lines"] == [1, 2, 3]


def test_meta_calls_never_touch_cuda_nor_the_users_objects():
    calls = []

    class Spy(torch.Tensor):  # a subclass with __torch_function__: user code
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            calls.append(func)
            return super().__torch_function__(func, types, args, kwargs or {})

    spy = torch.zeros(3).as_subclass(Spy)
    ns = {"torch": torch, "spy": spy, "f": lambda t: calls.append("f"),
          "x": big(100_000, 64)}
    cell = ("a = torch.einsum('ij,kj->ik', x, x)\nb = f(x)\na = a.to('cuda')\n"
            "c = torch.combinations(spy, r=2)\nd = spy.repeat(10)")
    finding = worst(cell, ns, line=1)
    assert calls == [] and not torch.cuda.is_initialized()
    assert finding is not None and finding.device == "cpu" and finding.exact
    assert worst(cell, ns, line=3).device == "cuda:0"
    assert finding.bytes == 100_000 ** 2 * 4


def test_meta_device_argument_is_tracked_apart():
    finding = worst("y = torch.kron(torch.ones(300, 300, device='cuda'), torch.ones(300, 300,"
                    " device='cuda'))", {"torch": torch}, line=1)
    assert finding.device == "cuda:0" and finding.bytes == 300 ** 4 * 4 and finding.risky


@pytest.mark.parametrize("cell, nbytes", [
    ("y = x.repeat(1000, 1)", 1000 * 10_000 * 64 * 4),
    ("y = torch.cat([x, x, x])", 3 * 10_000 * 64 * 4),
    ("y = x.unsqueeze(0) - x.unsqueeze(1)", 10_000 ** 2 * 64 * 4),
    ("y = (x * 2).half()", 10_000 * 64 * 2),
    ("y = x.int() + 0.5", 10_000 * 64 * 4),   # int32 + a Python float: float32
    ("y = torch.nn.functional.pad(x, (0, 936))", 10_000 * 1000 * 4),
])
def test_shapes_and_dtypes_come_from_pytorch(cell, nbytes):
    finding = worst(cell, {"torch": torch, "x": big(10_000, 64)}, line=1)
    assert finding.bytes == nbytes, finding.message


def test_views_allocate_nothing():
    ns = {"torch": torch, "x": big(50_000, 50_000)}
    for cell in ("y = x.t()", "y = x[::2]", "y = x.view(-1)", "y = x.unsqueeze(0).expand(3, -1, -1)",
                 "y = x.narrow(0, 0, 10)", "y = x.diagonal()"):
        assert worst(cell, ns) is None, cell


def test_decomposed_calls_keep_their_intermediates():
    n = 500
    ns = {"torch": torch, "A": big(n, n)}
    einsum = worst("D = torch.einsum('ij,jk,kl,jk->il', A, A, A, A)", ns, line=1)
    # left to right, j and k stay to the last operand: an n^4 product and its copy
    assert einsum.peak_bytes >= 2 * n ** 4 * 4 and einsum.risky
    assert "inside the call" in einsum.message
    matmul = worst("s = x.unsqueeze(1) @ w", {"torch": torch, "x": big(100, 128, 512),
                                              "w": big(50, 512, 512)}, line=1)
    # broadcast batches are expanded into contiguous copies before the bmm
    assert matmul.peak_bytes == 100 * 50 * (128 * 512 + 512 * 512 + 128 * 512) * 4


def test_decomposed_peaks_match_the_measured_cpu_peaks():
    here = Path(__file__).resolve().parent
    examples = [
        ("broadcast_matmul", "x = torch.rand(40, 1, 128, 256); w = torch.rand(20, 256, 256)",
         "out = x @ w"),
        ("einsum_chain", "A = torch.rand(110, 110)",
         "out = torch.einsum('ij,jk,kl,jk->il', A, A, A, A)"),
    ]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=SHIM)
    done = subprocess.run([sys.executable, str(here / "formula_peaks.py"),
                           json.dumps(examples)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    for name, _, _ in examples:
        measured, predicted = peaks[name]["measured"], peaks[name]["predicted"]
        assert predicted is not None and 0.90 * measured <= predicted <= 1.15 * measured, \
            (name, measured, predicted)


# -- bounded reads ---------------------------------------------------------------------
def test_index_max_is_read_and_said():
    edge_index = torch.tensor([[0, 79_999], [79_999, 0]])
    finding = worst("adj = to_dense_adj(edge_index)",
                    {"to_dense_adj": to_dense_adj, "edge_index": edge_index}, line=1)
    assert finding.exact and finding.bytes == 80_000 ** 2 * 4
    assert "edge_index.max() = 79,999" in finding.message


def read(obj, budget_s: float = 1.0):
    """What the predictor reads of a live value's max (None: not read)."""
    resolver = Resolver(rules.names_by_family(), Budget(budget_s))
    arr = resolver.value(obj)
    return resolver.read_max(arr) if isinstance(arr, Arr) else None


def test_reads_only_exact_integer_cpu_arrays_within_bounds():
    class Sub(torch.Tensor):
        pass

    assert read(torch.tensor([1, 7])) == 7
    assert read(np.array([3, 9], dtype=np.int32)) == 9
    assert read(torch.tensor([1.0, 7.0])) is None                   # not an index
    assert read(torch.tensor([1, 7]).as_subclass(Sub)) is None      # a user type
    assert read(torch.zeros(1, dtype=torch.long).expand(200_000_000)) is None  # > 1e8
    assert read(torch.tensor([True, False])) is None
    slow = Budget(1.0)
    slow.left = lambda: 1e-6  # what is left of the budget would not cover the read
    resolver = Resolver(rules.names_by_family(), slow)
    assert resolver.read_max(resolver.value(torch.zeros(50_000_000, dtype=torch.long))) is None


def test_reads_are_cached_per_buffer_and_version():
    reader = MaxReader()
    budget = Budget(1.0)
    kit = Resolver(rules.names_by_family(), budget).torch
    x = torch.tensor([1, 5, 2])
    assert reader.tensor_max(kit, x, 3, budget) == 5
    x[0] = 50                       # in place: a new version, read again
    assert reader.tensor_max(kit, x, 3, budget) == 50
    reads = []
    reader._read = (lambda original: lambda key, numel, budget, how:
                    reads.append(key) or original(key, numel, budget, how))(reader._read)
    assert reader.tensor_max(kit, x, 3, budget) == 50 and len(reads) == 1


# -- exact vs estimate ---------------------------------------------------------------------
@pytest.mark.parametrize("cell, exact", [
    ("y = torch.zeros(60_000, 60_000)", True),
    ("y = x @ x.T", True),
    ("y = (torch.rand(40_000, 40_000) > 0.5).nonzero()", False),  # a density
    ("y, m = dropout_edge(e, p=0.3)", False),                      # a draw
    ("y = to_dense_adj(e)", True),                                 # a value read in full
])
def test_findings_say_whether_their_size_is_exact(cell, exact):
    from torch_geometric.utils import dropout_edge
    ns = {"torch": torch, "x": big(80_000, 64), "to_dense_adj": to_dense_adj,
          "dropout_edge": dropout_edge,
          "e": torch.cat([torch.tensor([[0], [99_999]]), torch.zeros(2, 5, dtype=torch.long)],
                         dim=1).expand(2, 6).contiguous()}
    if "dropout_edge" in cell:
        ns["e"] = big(2, 1_000_000_000, dtype=torch.long)
    finding = worst(cell, ns, line=1)
    assert finding is not None and finding.exact is exact, finding
    assert finding.to_dict()["exact"] is exact
    assert ("about" in finding.message) is (not exact)


# -- NumPy, loops ----------------------------------------------------------------------
def test_numpy_temporary_elision():
    ns = {"np": np, "a": big_np(20_000, 1, 64), "b": big_np(20_000, 64)}
    once = worst("d = ((a - b) ** 2).sum(axis=2)", ns, line=1)
    # the difference, squared in place, and the sums taken of it
    assert once.peak_bytes == 20_000 ** 2 * 64 * 8 + 20_000 ** 2 * 8
    twice = worst("d = np.exp(a - b)", ns, line=1)           # a function: no elision
    assert twice.peak_bytes >= 2 * 20_000 ** 2 * 64 * 8


def test_loop_variable_at_its_largest():
    finding = worst("for n in range(1, 6):\n    y = torch.zeros(n * 10_000, 50_000)",
                    {"torch": torch}, line=2)
    assert finding.bytes == 50_000 * 50_000 * 4 and "its largest in the loop" in finding.message


# -- issue 9's named misses ---------------------------------------------------------------
def graph(nodes, edges, features):
    return Data(x=big(nodes, features), edge_index=big(2, edges, dtype=torch.long))


def test_tensor_dataset_loader_of_the_whole_set_is_a_full_copy():
    x = big(4_000_000, 1024)
    ns = {"TensorDataset": TensorDataset, "DataLoader": TorchLoader, "x": x,
          "y": big(4_000_000, dtype=torch.long)}
    cell = ("dataset = TensorDataset(x, y)\n"
            "loader = DataLoader(dataset, batch_size=len(dataset))\n"
            "for xb, yb in loader:\n    pass")
    finding = worst(cell, ns)
    assert finding.risky and finding.line == 2
    assert finding.bytes == 4_000_000 * (1024 * 4 + 8) and finding.exact


def test_neighbor_loader_on_a_shallow_copy_allocates_nothing():
    data = graph(232_965, 114_615_892, 602)
    cell = ("loader = NeighborLoader(copy.copy(data), input_nodes=None, num_neighbors=[-1],"
            " batch_size=1024, shuffle=False)\n"
            "del loader.data.x\nloader.data.n_id = torch.arange(data.num_nodes)")
    findings = predict(cell, {"NeighborLoader": NeighborLoader, "copy": copy, "data": data,
                              "torch": torch}, ram_available=RAM, budget_s=1.0)
    assert not [f for f in findings if f.risky]


def test_messages_are_as_wide_as_the_layer_propagates():
    data = graph(100_000, 50_000_000, 16)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(16, 512)

    finding = worst("out = model(data.x, data.edge_index)", {"model": Net(), "data": data},
                    line=1)
    # GCNConv transforms first: its messages are 512 wide, not 16
    assert finding is not None and finding.bytes >= 50_000_000 * 512 * 4


def test_to_device_moves_attributes_set_earlier_in_the_cell():
    data = graph(1_000_000, 2_000_000, 16)
    cell = "data.emb = torch.zeros(1_000_000, 4096)\ndata = data.to('cuda')"
    finding = worst(cell, {"torch": torch, "data": data}, line=2, vram_available=15 * GiB)
    assert finding.device == "cuda:0" and finding.risky
    assert finding.bytes >= 1_000_000 * 4096 * 4


def test_hetero_stores_and_dataset_items_are_read():
    data = HeteroData()
    data["paper"].x = big(736_389, 128)
    data["author"].num_nodes = 1_134_649
    finding = worst("a = torch.eye(data['author'].num_nodes)\nb = data['paper'].x.size(0)",
                    {"torch": torch, "data": data}, line=1)
    assert finding.bytes == 1_134_649 ** 2 * 4
