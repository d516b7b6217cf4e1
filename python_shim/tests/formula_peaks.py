"""Run in a subprocess by test_predict_formulas.py: each example's real call, its peak
measured from the kernel's high-water mark, beside the predictor's peak for the same call.

VmHWM is reset through /proc/self/clear_refs before each call (Linux >= 4.0) and read
after it; the caller sets MALLOC_MMAP_THRESHOLD_ so that every large buffer is its own
mapping and goes back to the system when freed, as one call's peak must not hide
behind memory an earlier call left in the heap."""
from __future__ import annotations

import gc
import json
import sys
import time

import networkx as nx
import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
import scipy.sparse.csgraph as csg
import scipy.spatial.distance as ssd
import torch
import torch.nn.functional as F
from torch_geometric.utils import (add_self_loops, coalesce, dropout_edge, remove_self_loops,
                                   to_undirected)

from oomguard.predict import predict

LIBS = dict(nx=nx, np=np, sl=sl, sp=sp, csg=csg, ssd=ssd, torch=torch, F=F,
            coalesce=coalesce, to_undirected=to_undirected, add_self_loops=add_self_loops,
            remove_self_loops=remove_self_loops, dropout_edge=dropout_edge)


def status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measured_peak(namespace: dict, call: str) -> int:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    exec(call, namespace)
    peak = status("VmHWM") - before
    namespace.pop("out", None)
    return peak


def main() -> None:
    examples = json.loads(sys.argv[1])
    results = {}
    for name, setup, call in examples:
        started = time.perf_counter()
        namespace = dict(LIBS)
        exec(setup, namespace)
        measured_peak(dict(namespace), call)  # first calls load code and caches
        peak = measured_peak(namespace, call)
        findings = [f for f in predict(call, namespace, ram_available=1 << 40) if f.line == 1]
        worst = max(findings, key=lambda f: f.peak_bytes) if findings else None
        results[name] = {"measured": peak,
                         "predicted": worst.peak_bytes if worst else None,
                         "exact": worst.exact if worst else None,
                         "kind": worst.kind if worst else None,
                         "seconds": round(time.perf_counter() - started, 2)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
