"""What the predictor must never do: import a library, initialise CUDA, run the cell,
allocate what it predicts, or warn into the session; and how it measures what is free."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import torch

from oomguard.predict import predict
from oomguard.probes.limits import LimitProbe

SHIM = str(Path(__file__).resolve().parents[1])
BIG = "import torch\nx = torch.randn(60_000, 60_000)\n"


def run_python(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SHIM)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_never_imports_a_library_the_user_has_not():
    result = run_python(
        "import sys, json\n"
        "from oomguard.predict import predict\n"
        "libs = ('torch', 'numpy', 'scipy', 'networkx', 'torch_geometric')\n"
        "before = {m for m in libs if m in sys.modules}\n"
        "cell = ('import torch\\nimport numpy as np\\nimport networkx as nx\\n'\n"
        "        'from torch_geometric.utils import to_dense_adj\\n'\n"
        "        'x = torch.randn(60_000, 60_000)\\na = np.zeros((45_000, 45_000))\\n'\n"
        "        'e = torch.randint(0, 80_000, (2, 10))\\nadj = to_dense_adj(e)')\n"
        "found = predict(cell, {}, ram_available=1 << 30)\n"
        "after = {m for m in libs if m in sys.modules}\n"
        "print(json.dumps({'before': sorted(before), 'after': sorted(after),\n"
        "                  'lines': [f.line for f in found]}))\n")
    assert result["after"] == result["before"]
    assert result["lines"] == [5, 6, 8]  # predicted from the cell's own imports


def test_never_initialises_cuda_and_unknown_vram_is_not_risky():
    findings = predict("y = torch.randn(90_000, 90_000, device='cuda')", {"torch": torch},
                       ram_available=1 << 40)
    assert torch.cuda.is_initialized() is False
    [finding] = findings
    assert finding.device == "cuda:0" and finding.available is None
    assert finding.risky is False and "unknown" in finding.message


def test_vram_given_per_device():
    cell = "a = torch.zeros(50_000, 50_000, device='cuda:1')"
    per_index = predict(cell, {"torch": torch}, vram_available={1: 1 << 30})
    per_name = predict(cell, {"torch": torch}, vram_available={"cuda:1": 1 << 30})
    other = predict(cell, {"torch": torch}, vram_available={"cuda:0": 1 << 30})
    assert [f.risky for f in per_index] == [f.risky for f in per_name] == [True]
    assert [f.device for f in per_index] == ["cuda:1"]
    assert [f.risky for f in other] == [False]


def test_ram_measured_live_when_not_given():
    free = LimitProbe().read().get("free")
    [finding] = predict(BIG, {})
    if free is None:
        assert finding.available is None and finding.risky is False
    else:
        assert abs(finding.available - free) <= max(free * 0.2, 256 << 20)
        assert finding.risky == (finding.peak_bytes > finding.available)


def test_never_runs_the_cell(tmp_path):
    marker = tmp_path / "ran"
    cell = (f"open({str(marker)!r}, 'w').write('x')\n"
            f"import os\nos.system('touch {marker}')\n"
            "x = torch.randn(60_000, 60_000)")
    findings = predict(cell, {"torch": torch, "open": open}, ram_available=1 << 30)
    assert not marker.exists()
    assert [f.line for f in findings] == [4]


def test_never_allocates_what_it_predicts():
    tracemalloc.start()
    try:
        findings = predict("x = torch.randn(60_000, 60_000)\ny = x @ x.T\nz = np.zeros((9**9,))",
                           {"torch": torch, "np": sys.modules["numpy"]},
                           ram_available=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(findings) == 3
    assert peak < 8 << 20


def test_unparseable_cells_and_cell_magics_give_nothing():
    for cell in ("x = (", "def f(:\n  pass", "%%time\nx = torch.randn(60000, 60000)",
                 "\n\n%%bash\nls", "x = torch.randn(60000, 60000) +", "\x00", 42, None):
        assert predict(cell, {"torch": torch}, ram_available=1 << 30) == []


def test_line_magics_shell_escapes_and_help_keep_line_numbers():
    cell = ("%load_ext oomguard\nfiles = !ls\nfor i in range(2):\n    %time pass\n"
            "torch.zeros?\nx = torch.zeros(60_000, 60_000)")
    findings = predict(cell, {"torch": torch}, ram_available=1 << 30)
    assert [f.line for f in findings] == [6]


def test_small_and_meta_allocations_are_not_reported():
    cell = ("a = torch.zeros(500, 500)\n"                       # 1,000,000 bytes < 1 MiB
            "b = torch.zeros(60_000, 60_000, device='meta')\n"  # no memory at all
            "c = torch.zeros(513, 512)")                        # 1,050,624 bytes >= 1 MiB
    findings = predict(cell, {"torch": torch}, ram_available=1 << 30)
    assert [(f.line, f.bytes) for f in findings] == [(3, 513 * 512 * 4)]


def test_bound_names_accumulate_and_del_frees():
    cell = ("a = torch.zeros(20_000, 20_000)\n"   # 1.6 GB
            "b = torch.zeros(20_000, 20_000)\n"   # held with a: 3.2 GB
            "del a\n"
            "c = torch.zeros(20_000, 20_000)")    # a freed: 3.2 GB again
    peaks = [f.peak_bytes for f in predict(cell, {"torch": torch}, ram_available=1 << 40)]
    one = 20_000 ** 2 * 4
    assert peaks == [one, 2 * one, 2 * one]


def test_torch_tensor_of_ndarray_keeps_float64_and_from_numpy_is_free():
    np = sys.modules["numpy"]
    namespace = {"torch": torch, "A": np.broadcast_to(np.zeros(1), (20_000, 20_000))}
    copied = predict("t = torch.tensor(A)", namespace, ram_available=1 << 40)
    assert [(f.kind, f.bytes) for f in copied] == [("copy", 20_000 ** 2 * 8)]
    assert "from_numpy" in copied[0].suggestion
    assert predict("t = torch.from_numpy(A)", namespace, ram_available=1 << 40) == []
