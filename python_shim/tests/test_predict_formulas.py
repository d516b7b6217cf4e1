"""The formula table (predict/formulas.py) against the libraries themselves: every
entry's real function is called at a small size in a subprocess, its peak measured from
VmHWM, and the predictor's peak for the same call must lie within -10%/+15% of it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oomguard.predict import formulas

HERE = Path(__file__).resolve().parent
EDGES = "ei = torch.randint(0, 100_000, (2, 1_000_000))"
# A sparse random graph: n nodes, 2n weighted edges (Floyd-Warshall is n^3: n stays small).
GRAPH = ("rng = np.random.default_rng(0)\n"
         "A = sp.csr_matrix((rng.random(2 * {n}), (rng.integers(0, {n}, 2 * {n}), "
         "rng.integers(0, {n}, 2 * {n}))), shape=({n}, {n}))")
DENSE_GRAPH = "A = sp.random(1100, 1100, density=0.5, format='csr', random_state=0)"
MATRIX = "a = np.random.rand(3000, 500)"

# path -> [(example name, setup, call)]: each entry at least once, options that change
# the formula's branch too.
EXAMPLES = {
    "torch_geometric.utils.coalesce": [("coalesce", EDGES, "out = coalesce(ei)")],
    "torch_geometric.utils.to_undirected": [
        ("to_undirected", EDGES, "out = to_undirected(ei)")],
    "torch_geometric.utils.add_self_loops": [
        ("add_self_loops", EDGES, "out = add_self_loops(ei)"),
        ("add_self_loops_num_nodes", EDGES, "out = add_self_loops(ei, num_nodes=1_000_000)")],
    "torch_geometric.utils.remove_self_loops": [
        ("remove_self_loops", EDGES, "out = remove_self_loops(ei)")],
    "scipy.sparse.csgraph.dijkstra": [
        ("dijkstra", GRAPH.format(n=2000), "out = csg.dijkstra(A)"),
        ("dijkstra_predecessors", GRAPH.format(n=2000),
         "out = csg.dijkstra(A, return_predecessors=True)"),
        ("dijkstra_indices", GRAPH.format(n=20_000),
         "out = csg.dijkstra(A, indices=list(range(200)))")],
    "scipy.sparse.csgraph.bellman_ford": [  # O(N E) per source: a graph of 10 edges
        ("bellman_ford", "A = sp.csr_matrix((np.ones(10), (np.arange(10), np.arange(10) + 1)),"
         " shape=(1200, 1200))", "out = csg.bellman_ford(A)")],
    "scipy.sparse.csgraph.johnson": [("johnson", GRAPH.format(n=2000), "out = csg.johnson(A)")],
    "scipy.sparse.csgraph.floyd_warshall": [
        ("floyd_warshall", GRAPH.format(n=1300), "out = csg.floyd_warshall(A)"),
        ("floyd_warshall_predecessors", GRAPH.format(n=1300),
         "out = csg.floyd_warshall(A, return_predecessors=True)")],
    "scipy.sparse.csgraph.shortest_path": [
        ("shortest_path_sparse", GRAPH.format(n=2000), "out = csg.shortest_path(A)"),
        ("shortest_path_dense", DENSE_GRAPH, "out = csg.shortest_path(A)")],
    "numpy.linalg.svd": [
        ("np_svd", MATRIX, "out = np.linalg.svd(a)"),
        ("np_svd_reduced", "a = np.random.rand(2000, 1000)",
         "out = np.linalg.svd(a, full_matrices=False)"),
        ("np_svd_wide", "a = np.random.rand(1000, 2000)", "out = np.linalg.svd(a)")],
    "scipy.linalg.svd": [
        ("scipy_svd", MATRIX, "out = sl.svd(a)"),
        ("scipy_svd_reduced", "a = np.random.rand(2000, 1000)",
         "out = sl.svd(a, full_matrices=False)")],
    "numpy.linalg.pinv": [("pinv", MATRIX, "out = np.linalg.pinv(a)")],
    "numpy.linalg.inv": [("inv", "a = np.random.rand(2500, 2500)", "out = np.linalg.inv(a)")],
    "numpy.linalg.eigh": [("eigh", "a = np.random.rand(2000, 2000)", "out = np.linalg.eigh(a)")],
    "numpy.cov": [("cov", MATRIX, "out = np.cov(a)"),
                  ("cov_columns", "a = np.random.rand(500, 3000)",
                   "out = np.cov(a, rowvar=False)")],
    "numpy.corrcoef": [("corrcoef", MATRIX, "out = np.corrcoef(a)")],
    "numpy.einsum": [("einsum", "a = np.random.rand(3000, 64)",
                      "out = np.einsum('ik,jk->ij', a, a)")],
    "numpy.outer": [("outer", "a = np.arange(3000.)", "out = np.outer(a, a)")],
    "numpy.kron": [("kron", "a = np.random.rand(60, 60)", "out = np.kron(a, a)")],
    "numpy.meshgrid": [("meshgrid", "a = np.arange(3000.)", "out = np.meshgrid(a, a)")],
    "numpy.tril_indices": [("tril_indices", "", "out = np.tril_indices(4000)")],
    "numpy.triu_indices": [("triu_indices", "", "out = np.triu_indices(3000, k=1)")],
    "torch.combinations": [
        ("combinations", "x = torch.arange(3000)", "out = torch.combinations(x, r=2)"),
        ("combinations_float", "x = torch.arange(2000.)", "out = torch.combinations(x)"),
        ("combinations_r3", "x = torch.arange(150)", "out = torch.combinations(x, r=3)")],
    "torch.nn.functional.one_hot": [
        ("one_hot", "x = torch.randint(0, 1000, (10_000,))", "out = F.one_hot(x)")],
    "torch_geometric.utils.dropout_edge": [
        ("dropout_edge", EDGES, "out = dropout_edge(ei, p=0.4)")],
    "numpy.linalg.norm": [("norm_axis", "a = np.random.rand(4000, 1000)",
                           "out = np.linalg.norm(a, axis=1)")],
    "numpy.diag": [("diag", "v = np.random.rand(3000)", "out = np.diag(v)")],
    "numpy.diagflat": [("diagflat", "v = np.random.rand(3000)", "out = np.diagflat(v)")],
    "scipy.spatial.distance.cdist": [
        ("cdist", "a = np.random.rand(3000, 8); b = np.random.rand(2000, 8)",
         "out = ssd.cdist(a, b)")],
    "scipy.spatial.distance.pdist": [("pdist", "a = np.random.rand(4000, 8)",
                                      "out = ssd.pdist(a)")],
    "scipy.spatial.distance.squareform": [
        ("squareform", "d = ssd.pdist(np.random.rand(3000, 4))", "out = ssd.squareform(d)")],
    "networkx.floyd_warshall_numpy": [
        ("nx_floyd_warshall_numpy", "G = nx.gnm_random_graph(700, 2800, seed=0)",
         "out = nx.floyd_warshall_numpy(G)")],
}


def test_every_formula_has_an_example():
    paths = {path for formula in formulas.TABLE for path in (formula.path,) + formula.also}
    assert paths == set(EXAMPLES)


def test_every_formula_compiles():
    for formula in formulas.TABLE:
        formula.compile()


@pytest.fixture(scope="module")
def peaks():
    examples = [example for cases in EXAMPLES.values() for example in cases]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    done = subprocess.run([sys.executable, str(HERE / "formula_peaks.py"), json.dumps(examples)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", [e[0] for cases in EXAMPLES.values() for e in cases])
def test_formula_matches_the_measured_peak(peaks, name):
    result = peaks[name]
    measured, predicted = result["measured"], result["predicted"]
    assert measured > 8 << 20, "the example is too small to measure"
    assert predicted is not None, f"no finding for {name}"
    assert 0.90 * measured <= predicted <= 1.15 * measured, \
        f"{name}: predicted {predicted:,} bytes, measured {measured:,}"
