"""The timeline end to end in a real kernel: records and samples reach the exports and
the on-disk spool, and the spool outlives a kernel killed like the OOM killer does."""
from __future__ import annotations

import csv
import json
import os
import signal
import time

import pytest

from kernel_session import KernelSession
from oomguard.spool import read_spool

pytestmark = pytest.mark.kernel
MiB = 1 << 20


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    spool_dir = tmp_path_factory.mktemp("spool")
    session = KernelSession(tmp_path_factory.mktemp("kernel"))
    session.execute(f"import oomguard; oomguard.enable(interval=0.2, summary='off', "
                    f"spool={str(spool_dir)!r})")
    session.run("block = b'\\x01' * (256 << 20)")
    time.sleep(1.0)  # a few samples after the cell
    yield session, spool_dir
    session.shutdown()


def test_exports_hold_the_cells_and_samples(kernel, tmp_path):
    session, _ = kernel
    out = str(tmp_path / "timeline")
    written = session.evaluate(
        f"[oomguard.export({out + '.csv'!r}, 'csv'), oomguard.export({out + '.json'!r}, 'json'),"
        f" oomguard.export({out + '.trace.json'!r}, 'trace')]")
    assert [len(paths) for paths in written] == [2, 1, 1]

    timeline = json.loads((tmp_path / "timeline.json").read_text())
    cell = next(c for c in timeline["cells"] if c["ram_delta"] and c["ram_delta"] > 200 * MiB)
    assert abs(cell["ram_delta"] - 256 * MiB) <= 0.05 * 256 * MiB
    assert len(timeline["samples"]) >= 5

    with open(tmp_path / "timeline.cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert any(int(float(row["ram_delta"])) == cell["ram_delta"] for row in rows)

    trace = json.loads((tmp_path / "timeline.trace.json").read_text())
    names = {event["name"] for event in trace["traceEvents"]}
    assert f"cell [{cell['execution_count']}]" in names


def test_a_bad_format_warns_instead_of_raising(kernel):
    session, _ = kernel
    assert session.evaluate("oomguard.export('/tmp/never', 'xlsx')") == []


def test_the_spool_survives_a_killed_kernel(kernel):
    session, spool_dir = kernel
    pid = session.evaluate("__import__('os').getpid()")
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    samples, cells, info = read_spool(spool_dir)
    assert info["pid"] == pid
    assert any(c["ram_delta"] and c["ram_delta"] > 200 * MiB for c in cells)
    # Sampling at 0.2 s: the last sample on disk is from just before the kill.
    assert killed_at - samples[-1]["t"] < 1.0
