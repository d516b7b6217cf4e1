"""Exports of a synthetic timeline: csv, json and Chrome trace, atomic writes, odd values."""
import csv
import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from oomguard import exporters as export_module
from oomguard.exporters import MIB, export
from oomguard.timeline import Timeline

T0 = 1_750_000_000.0
GIB = 2**30


def synthetic_timeline():
    """40 samples at 10 Hz: RSS climbs during cell 2, GPU 0 appears from sample 10 on,
    a cell runs from 1.0 s to 2.5 s; three cells with different statuses."""
    timeline = Timeline()
    for i in range(40):
        t = T0 + i / 10
        sample = {"t": t, "rss": 500 * MIB + (i // 10) * 100 * MIB, "children_rss": 0,
                  "limit": 8 * GIB, "limit_source": "cgroup v2", "used": GIB + i * MIB,
                  "free": 7 * GIB - i * MIB, "host_total": 64 * GIB,
                  "host_available": 32 * GIB, "notes": ["a note"] if i == 5 else [],
                  "running_cell": {"execution_count": 2, "cell_id": "c2", "start": T0 + 1}
                  if 10 <= i < 25 else None}
        if i >= 10:
            sample["gpus"] = [{"index": 0, "name": "NVIDIA H100", "used": (i - 9) * GIB,
                               "total": 80 * GIB, "process_used": (i - 9) * GIB,
                               "torch_allocated": (i - 10) * GIB, "torch_reserved": None,
                               "source": "nvml"}]
        timeline.add_sample(sample)
    timeline.add_cell({"execution_count": 1, "cell_id": "c1", "start": T0 + 0.1,
                       "duration": 0.2, "ram_before": 500 * MIB, "ram_after": 500 * MIB,
                       "ram_peak": 510 * MIB, "ram_delta": 0, "ram_peak_delta": 10 * MIB,
                       "peak_method": "hwm", "container_peak": None, "gpu": [],
                       "status": "ok", "findings": [], "notes": []})
    timeline.add_cell({"execution_count": 2, "cell_id": "c2", "start": T0 + 1.0,
                       "duration": 1.5, "ram_before": 600 * MIB, "ram_after": 700 * MIB,
                       "ram_peak": 900 * MIB, "peak_method": "sampled",  # deltas derived
                       "container_peak": 2 * GIB,
                       "gpu": [{"index": 0, "before": GIB, "after": 15 * GIB,
                                "peak": 16 * GIB}],
                       "status": "error",
                       "findings": [{"kind": "dense_adjacency", "line": 3, "bytes": 4 * GIB,
                                     "peak_bytes": 8 * GIB, "device": "cpu", "risky": True,
                                     "message": "A dense 32768 x 32768 float32 matrix",
                                     "suggestion": "use a sparse tensor"}],
                       "notes": ["peak sampled: VmHWM could not be reset"]})
    timeline.add_cell({"execution_count": None, "cell_id": None, "start": T0 + 3.0,
                       "duration": 0.05, "ram_before": None, "ram_after": None,
                       "ram_peak": None, "status": "blocked", "findings": [], "notes": []})
    return timeline


# -- CSV ---------------------------------------------------------------------------------

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def as_int(text):
    return int(text) if text != "" else None


def test_csv_has_one_row_per_sample_and_per_cell(tmp_path):
    timeline = synthetic_timeline()
    written = export(tmp_path / "mem.csv", "csv", timeline.samples(), timeline.cells())
    assert written == [str(tmp_path / "mem.csv"), str(tmp_path / "mem.cells.csv")]

    rows = read_csv(written[0])
    samples = timeline.samples()
    assert len(rows) == len(samples)
    for row, sample in zip(rows, samples):
        assert float(row["t"]) == sample["t"]
        assert datetime.fromisoformat(row["time"]).timestamp() == pytest.approx(
            sample["t"], abs=1e-3)
        for name in ("rss", "children_rss", "used", "limit", "free", "host_total",
                     "host_available"):
            assert as_int(row[name]) == sample[name], name
        assert row["limit_source"] == "cgroup v2"
        assert row["notes"] == "; ".join(sample["notes"])
        running = sample["running_cell"]
        assert as_int(row["running_cell"]) == (running["execution_count"] if running else None)
        gpus = sample.get("gpus") or [{}]
        for name in ("used", "total", "process_used", "torch_allocated", "torch_reserved"):
            assert as_int(row[f"gpu0_{name}"]) == gpus[0].get(name), name

    cell_rows = read_csv(written[1])
    cells = timeline.cells()
    assert len(cell_rows) == len(cells)
    assert [as_int(r["execution_count"]) for r in cell_rows] == [1, 2, None]
    second = cell_rows[1]
    assert float(second["start"]) == T0 + 1.0 and float(second["duration"]) == 1.5
    assert as_int(second["ram_delta"]) == 100 * MIB  # derived: after - before
    assert as_int(second["ram_peak_delta"]) == 300 * MIB
    assert as_int(second["container_peak"]) == 2 * GIB
    assert (second["status"], second["peak_method"]) == ("error", "sampled")
    assert (second["findings"], second["risky_findings"]) == ("1", "1")
    assert second["finding_kinds"] == "dense_adjacency"
    assert (as_int(second["gpu0_before"]), as_int(second["gpu0_peak"])) == (GIB, 16 * GIB)
    assert cell_rows[0]["gpu0_peak"] == "" and cell_rows[2]["ram_delta"] == ""


def test_csv_without_the_suffix_still_names_the_cells_file(tmp_path):
    written = export(str(tmp_path / "timeline"), "CSV", [], [])
    assert written == [str(tmp_path / "timeline"), str(tmp_path / "timeline.cells.csv")]
    assert read_csv(written[0]) == [] and read_csv(written[1]) == []


# -- JSON --------------------------------------------------------------------------------

def test_json_round_trips(tmp_path):
    timeline = synthetic_timeline()
    session = {"pid": 4242, "python": "3.11.7", "hostname": "box"}
    written = export(tmp_path / "mem.json", "json", timeline.samples(), timeline.cells(),
                     session=session)
    with open(written[0], encoding="utf-8") as f:
        document = json.load(f)
    assert document == {"format": "oomguard-timeline", "version": 1, "session": session,
                        "samples": timeline.samples(), "cells": timeline.cells()}


# -- Chrome trace ------------------------------------------------------------------------

def validate_trace(document):
    """Structural checks from the Trace Event Format spec; returns the events."""
    assert set(document) >= {"traceEvents", "displayTimeUnit"}
    assert document["displayTimeUnit"] in ("ms", "ns")
    events = document["traceEvents"]
    last_ts = {}
    for event in events:
        assert isinstance(event["name"], str) and event["name"]
        assert event["ph"] in ("M", "C", "X"), event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        if event["ph"] == "M":
            assert event["name"] in ("process_name", "thread_name")
            assert isinstance(event["args"]["name"], str)
        elif event["ph"] == "C":
            assert list(event["args"]) == ["MiB"]
            assert isinstance(event["args"]["MiB"], (int, float))
            assert event["ts"] >= last_ts.get(event["name"], 0), event["name"]
            last_ts[event["name"]] = event["ts"]
        else:
            assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0
            assert isinstance(event["args"], dict)
    return events


def load_trace(path):
    with open(path, encoding="utf-8") as f:
        return validate_trace(json.load(f))


def counter(events, name):
    return [(e["ts"], e["args"]["MiB"]) for e in events if e["ph"] == "C" and e["name"] == name]


def test_trace_validates_and_its_cells_match(tmp_path):
    timeline = synthetic_timeline()
    written = export(tmp_path / "mem.trace.json", "trace", timeline.samples(),
                     timeline.cells(), session={"pid": 4242, "hostname": "box"})
    events = load_trace(written[0])
    assert {e["pid"] for e in events} == {4242}
    names = {e["args"]["name"] for e in events if e["ph"] == "M"}
    assert "oomguard: kernel (pid 4242) on box" in names

    slices = [e for e in events if e["ph"] == "X"]
    assert [e["name"] for e in slices] == ["cell [1]", "cell [2]", "cell [?]"]
    for event, cell in zip(slices, timeline.cells()):
        assert event["ts"] == pytest.approx(cell["start"] * 1e6, abs=1)
        assert event["dur"] == pytest.approx(cell["duration"] * 1e6, abs=1)
        assert event["args"]["status"] == cell["status"]
    args = slices[1]["args"]
    assert args["ram_delta_MiB"] == 100 and args["ram_peak_delta_MiB"] == 300
    assert args["gpu"] == [{"index": 0, "before_MiB": 1024, "after_MiB": 15 * 1024,
                            "peak_MiB": 16 * 1024}]
    assert args["findings"][0]["kind"] == "dense_adjacency" and args["findings"][0]["risky"]
    assert slices[1]["cname"] == "terrible" and "cname" not in slices[0]

    # RSS steps up by 100 MiB every 10 samples: one point per change, one at the end.
    rss = counter(events, "kernel RSS")
    assert [v for _, v in rss] == [500, 600, 700, 800, 800]
    assert [ts for ts, _ in rss] == [round((T0 + i / 10) * 1e6) for i in (0, 10, 20, 30, 39)]
    assert counter(events, "session limit")[0][1] == 8192
    assert len(counter(events, "session used")) == 40  # changes every sample
    gpu_used = counter(events, "GPU0 used")
    assert gpu_used[0] == (round((T0 + 1.0) * 1e6), 1024)  # from the first GPU sample on
    assert counter(events, "GPU0 torch allocated")[1][1] == 1024
    assert counter(events, "GPU0 torch reserved") == []  # never measured: no track
    # One stream in time order (metadata first).
    stamps = [e["ts"] for e in events if e["ph"] != "M"]
    assert stamps == sorted(stamps)


# -- failures and odd values -------------------------------------------------------------

def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError):
        export(tmp_path / "x", "xlsx", [], [])
    with pytest.raises(ValueError):
        export(tmp_path / "x", None, [], [])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "mem.json"
    target.write_text("the previous export")
    timeline = synthetic_timeline()
    calls = []

    def failing_dumps(value):
        calls.append(1)
        if len(calls) > 10:
            raise OSError(28, "No space left on device")
        return json.dumps(value)

    monkeypatch.setattr(export_module, "dumps", failing_dumps)
    with pytest.raises(OSError):
        export(target, "json", timeline.samples(), timeline.cells())
    assert target.read_text() == "the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["mem.json"]
    with pytest.raises(OSError):
        export(tmp_path / "missing" / "mem.json", "json", [], [])


class Opaque:
    """An object the exporter does not know: it must not be repr'd or str'd."""

    def __repr__(self):
        raise AssertionError("repr called")

    __str__ = __repr__


@pytest.mark.parametrize("fmt", ["csv", "json", "trace"])
def test_odd_values_never_raise(tmp_path, fmt):
    samples = [
        {"t": T0, "rss": float("nan"), "used": float("inf"), "limit": "lots",
         "notes": [Opaque(), "real note"], "gpus": [Opaque(), {"index": "zero", "used": 1}]},
        {"t": None, "rss": 5},  # no time: kept in csv/json, left out of the trace
        {"t": T0 + 1, "rss": True, "gpus": "not a list", "running_cell": Opaque()},
        "not a dict",
        {"t": float("nan"), "rss": 1},
    ]
    cells = [{"execution_count": "7", "start": "soon", "duration": -3, "gpu": [None],
              "findings": [Opaque(), {"kind": Opaque()}], "notes": Opaque(),
              "ram_before": Opaque(), "ram_after": 2**70},
             {"start": T0, "duration": float("nan"), "weird": Opaque()}, 42]
    written = export(tmp_path / f"odd.{fmt}", fmt, samples, cells,
                     session={"pid": "not a pid", "x": Opaque()})
    for path in written:
        text = Path(path).read_text(encoding="utf-8")
        if fmt != "csv":
            json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    if fmt == "csv":
        assert len(read_csv(written[0])) == 4 and len(read_csv(written[1])) == 2
        assert read_csv(written[0])[0]["rss"] == ""
    if fmt == "trace":
        events = load_trace(written[0])
        assert {e["pid"] for e in events} == {1}
        assert [e["name"] for e in events if e["ph"] == "X"] == ["cell [?]"]
        assert all(math.isfinite(v) for _, v in counter(events, "kernel RSS"))
