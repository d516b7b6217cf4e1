"""The cluster watch (clusters/watch.py) and what carries its `cluster` dicts (records,
text, exports), with a stand-in engine whose answers the test scripts: no cluster here.
A real Dask cluster in a real kernel is tested in test_clusters_dask.py."""
import csv
import io
import json
import threading
import time
import types
import weakref

import pytest

from oomguard import exporters, render
from oomguard.clusters import ClusterWatch
from oomguard.clusters.base import ClusterSample, NotMeasured, WorkerEvent
from oomguard.clusters.dask_engine import key_text, removal_reason, restart_event
from oomguard.clusters.watch import cadence
from oomguard.records import CellRecord
from oomguard.timeline import Timeline

MiB = 1 << 20
GiB = 1 << 30


class FakeClient:
    pass


class FakeSource:
    """Answers from a script: ClusterSamples, NotMeasured, or a callable run first."""
    engine = "fake"

    def __init__(self, name, client, on_event):
        self.name, self.client, self.on_event = name, weakref.ref(client), on_event
        self.scheduler = "tcp://scheduler:8786"
        self.answers, self.removals, self.closed = list(ENGINE.pending), {}, False
        ENGINE.pending.clear()
        ENGINE.sources.append(self)

    def sample(self, timeout):
        if not self.answers:
            raise NotMeasured("no answer scripted")
        answer = self.answers.pop(0)
        if callable(answer):
            answer = answer()
        if isinstance(answer, NotMeasured):
            raise answer
        return answer

    def lost(self, address, timeout):
        return self.removals.get(address, WorkerEvent("lost", address, "it vanished", 1.0))

    def poll_events(self, timeout):
        return []

    def close(self):
        self.closed = True


ENGINE = types.SimpleNamespace(
    NAME="fake", MODULE="sys", Source=FakeSource, sources=[], pending=[],
    find=lambda items: [(n, v) for n, v in items if type(v) is FakeClient],
    clients_exist=lambda: True,
    cell_error=lambda error: None, UNSAMPLED="the fake cluster was not sampled")


def sample(workers, limit=GiB, t=None):
    return ClusterSample(time.time() if t is None else t, "tcp://scheduler:8786",
                         len(workers), dict(workers), {a: limit for a in workers})


@pytest.fixture
def setup():
    ENGINE.sources.clear()
    ENGINE.pending.clear()
    ENGINE.cell_error = lambda error: None
    ENGINE.clients_exist = lambda: True
    namespace = {"client": FakeClient(), "x": 1}
    watch = ClusterWatch(lambda: namespace, lambda: 0.5, engines=(ENGINE,))
    yield watch, namespace
    watch.stop()


def scripted(watch, *answers):
    """Adopt the client, then answer the next ticks with `answers`."""
    source = FakeSource("client", watch._namespace()["client"], watch.worker_event)
    source.answers.extend(answers)
    watch._source = source
    return source


# -- the watch ---------------------------------------------------------------------------
def test_no_client_no_cluster_field(setup):
    watch, namespace = setup
    del namespace["client"]
    watch.tick()
    watch.begin()
    assert watch.end() is None
    assert watch.figures() is None


def test_before_after_peak_and_per_worker_from_the_samples(setup):
    watch, _ = setup
    scripted(watch, sample({"a": 100 * MiB, "b": 100 * MiB}),
             sample({"a": 300 * MiB, "b": 200 * MiB}),
             sample({"a": 250 * MiB, "b": 150 * MiB}))
    watch.tick()
    watch.begin()
    watch.tick()
    watch.tick()
    cluster = watch.end()
    assert cluster["engine"] == "fake" and cluster["scheduler"] == "tcp://scheduler:8786"
    assert (cluster["before"], cluster["after"], cluster["peak"]) == \
        (200 * MiB, 400 * MiB, 500 * MiB)
    assert cluster["per_worker"] == {"a": 300 * MiB, "b": 200 * MiB}
    assert cluster["workers"] == 2 and cluster["limit"] == 2 * GiB
    assert cluster["restarted"] == [] and cluster["lost"] == []
    assert "sampled every 0.5 s" in cluster["notes"][0]
    assert watch.figures() == {"engine": "fake", "memory": 400 * MiB, "limit": 2 * GiB,
                               "workers": 2}


def test_a_cell_shorter_than_a_sample_keeps_the_last_figures_and_says_so(setup):
    watch, _ = setup
    scripted(watch, sample({"a": 100 * MiB}))
    watch.tick()
    watch.begin()
    cluster = watch.end()
    assert cluster["before"] == cluster["after"] == cluster["peak"] == 100 * MiB
    assert any("no sample fell within the cell" in note for note in cluster["notes"])


def test_a_cluster_that_does_not_answer_is_a_note_not_a_figure(setup):
    watch, _ = setup
    scripted(watch, NotMeasured("the scheduler did not answer in 2 s"),
             NotMeasured("the scheduler did not answer in 2 s"))
    watch.tick()
    watch.begin()
    watch.tick()
    cluster = watch.end()
    assert cluster["before"] is cluster["after"] is cluster["peak"] is None
    assert cluster["notes"] == ["not measured: the scheduler did not answer in 2 s"]
    assert watch.figures()["memory"] is None


def test_a_failure_after_good_samples_leaves_after_unmeasured(setup):
    watch, _ = setup
    scripted(watch, sample({"a": 100 * MiB}), sample({"a": 150 * MiB}),
             NotMeasured("the Client is connecting"))
    watch.tick()
    watch.begin()
    watch.tick()
    watch.tick()
    cluster = watch.end()
    assert cluster["before"] == 100 * MiB and cluster["peak"] == 150 * MiB
    assert cluster["after"] is None
    assert "1 sample around the cell failed: the Client is connecting" in cluster["notes"]


def test_the_cells_path_never_waits_for_a_stuck_cluster(setup):
    watch, _ = setup
    release = threading.Event()
    source = scripted(watch, sample({"a": 100 * MiB}),
                      lambda: release.wait(10) and sample({"a": 100 * MiB}))
    watch.tick()
    try:
        watch.poke()  # starts the thread: its next sample hangs
        time.sleep(1.3)
        took = time.perf_counter()
        watch.begin()
        cluster = watch.end()
        took = time.perf_counter() - took
        assert took < 0.05, took  # the stuck call would take 10 s
        assert cluster["after"] is None
        assert any("the scheduler has not answered for 1." in note
                   for note in cluster["notes"]), cluster["notes"]
    finally:
        release.set()


def test_workers_restarted_and_lost_are_named(setup):
    watch, _ = setup
    source = scripted(watch, sample({"a": 100 * MiB, "b": 100 * MiB}),
                      sample({"b": 100 * MiB, "c": 50 * MiB}),
                      sample({"c": 50 * MiB}))
    source.removals["b"] = WorkerEvent("lost", "b", "its connection to the scheduler "
                                       "closed", 5.0)
    watch.tick()
    watch.begin()
    # pushed by the engine (Dask: the nanny's event, on the client's loop)
    source.on_event(WorkerEvent("restarted", "a", "its nanny restarted it", 4.0,
                                rss=980 * MiB))
    watch.tick()  # "a" is gone: restarted, so not lost as well
    watch.tick()  # "b" is gone: lost
    cluster = watch.end()
    assert cluster["restarted"] == [{"worker": "a", "reason": "its nanny restarted it",
                                     "t": 4.0, "rss": 980 * MiB, "limit": GiB,
                                     "task": None}]
    assert [e["worker"] for e in cluster["lost"]] == ["b"]
    assert cluster["lost"][0]["limit"] == GiB
    assert cluster["per_worker"] == {"a": 100 * MiB, "b": 100 * MiB, "c": 50 * MiB}


def test_a_worker_lost_while_idle_goes_to_the_next_cell(setup):
    watch, _ = setup
    source = scripted(watch, sample({"a": 100 * MiB}))
    watch.tick()
    source.on_event(WorkerEvent("restarted", "a", "its nanny restarted it", 4.0))
    watch.begin()
    cluster = watch.end()
    assert cluster["restarted"][0]["idle"] is True
    watch.begin()
    assert watch.end()["restarted"] == []


def test_killed_worker_names_the_task_on_the_restarted_worker(setup):
    watch, _ = setup
    source = scripted(watch, sample({"a": 100 * MiB}))
    watch.tick()
    watch.begin()
    source.on_event(WorkerEvent("restarted", "a", "its nanny restarted it", 4.0))
    killed = WorkerEvent("lost", "a", "it died running the task", None, task="t-1",
                         error="KilledWorker")
    ENGINE.cell_error = lambda error: killed if isinstance(error, RuntimeError) else None
    cluster = watch.end(RuntimeError("stand-in for KilledWorker"))
    assert cluster["lost"] == []
    assert cluster["restarted"][0]["task"] == "t-1"
    assert any("KilledWorker" in note and "t-1" in note for note in cluster["notes"])


def test_a_deleted_or_replaced_client_is_dropped(setup):
    watch, namespace = setup
    scripted(watch, sample({"a": 100 * MiB}))
    watch.tick()
    first = watch._source
    del namespace["client"]
    watch.begin()
    assert watch.end() is None  # at once, before the thread notices
    namespace["other"] = FakeClient()
    watch.tick()
    assert first.closed and watch._source is not first


def test_a_new_client_gets_its_before_from_the_first_sample(setup):
    watch, _ = setup
    watch.begin()  # the thread has not seen the client yet
    ENGINE.pending.append(sample({"a": 70 * MiB}))
    watch.tick()
    assert watch._source is ENGINE.sources[0]
    cluster = watch.end()
    assert cluster["before"] == 70 * MiB
    assert any("before is the first sample" in note for note in cluster["notes"])


def test_turned_off_it_looks_at_nothing(setup):
    watch, _ = setup
    scripted(watch, sample({"a": 70 * MiB}))
    complaints = []
    watch.apply_setting("clusters", "no", complaints.append)
    assert complaints == ["oomguard: clusters must be True or False"] and watch.enabled
    watch.apply_setting("clusters", False, complaints.append)
    assert watch._source is None  # dropped at once
    watch.tick()
    watch.begin()
    assert watch.end() is None and watch._source is None


def test_a_cells_start_looks_only_where_a_client_can_be(setup):
    watch, namespace = setup
    looked = []
    watch._namespace = lambda: looked.append(True) or namespace
    ENGINE.clients_exist = lambda: False  # the engine knows of no client at all
    watch.begin()
    assert watch.end() is None and looked == []
    ENGINE.clients_exist = lambda: True
    watch.begin()
    assert looked and watch.end() is not None
    watch._modules = ("an engine nobody imported",)
    looked.clear()
    watch.begin()
    assert watch.end() is None and looked == []


def test_cadence_follows_the_interval_and_slows_for_big_clusters():
    assert cadence(1.0, 2) == 1.0
    assert cadence(0.1, 2) == 0.5  # no faster than the heartbeats
    assert cadence(1.0, 1000) == 10.0


# -- Dask's words, read without running anything ------------------------------------------
def test_task_keys_and_reasons_as_text():
    assert key_text("hog-1") == "hog-1"
    assert key_text(("random_sample-abc", 3)) == "(random_sample-abc, 3)"

    class Hostile:
        def __repr__(self):
            raise AssertionError("repr must not run")

    assert key_text(("x", Hostile())) == "(x, ?)"
    assert removal_reason("handle-worker-cleanup-1795.2").startswith("its connection")
    assert removal_reason("nanny-close-1.0").startswith("its nanny unregistered it")
    assert removal_reason("something-new-1") == "the scheduler removed it (something-new-1)"
    assert removal_reason(None) == "the scheduler removed it"


def test_restart_events_are_parsed_defensively():
    event = restart_event((1795.5, {"worker": "tcp://1.2.3.4:5", "pid": 42, "rss": 1 << 30}))
    assert (event.kind, event.worker, event.rss, event.t) == \
        ("restarted", "tcp://1.2.3.4:5", 1 << 30, 1795.5)
    assert event.to_dict()["pid"] == 42
    for odd in (None, (), (1, 2, 3), (1.0, "x"), (1.0, {"worker": 5}), "text"):
        assert restart_event(odd) is None


# -- where the record goes ----------------------------------------------------------------
CLUSTER = {"engine": "dask", "scheduler": "tcp://127.0.0.1:8786", "workers": 2,
           "before": 200 * MiB, "after": 712 * MiB, "peak": 730 * MiB, "limit": 2 * GiB,
           "per_worker": {"tcp://127.0.0.1:1": 365 * MiB, "tcp://127.0.0.1:2": 360 * MiB},
           "restarted": [{"worker": "tcp://127.0.0.1:3", "reason": "its nanny restarted it "
                          "for exceeding the memory limit", "t": 5.0, "rss": 1000 * MiB,
                          "limit": GiB, "task": "hog-1"}],
           "lost": [], "notes": ["sampled every 0.5 s"]}


def record(**changes):
    fields = dict(execution_count=3, cell_id="c3", start=1_750_000_000.0, duration=4.0,
                  ram_before=GiB, ram_after=GiB, ram_peak=GiB, cluster=CLUSTER)
    fields.update(changes)
    return CellRecord(**fields)


def test_the_record_carries_cluster_only_when_there_is_one():
    assert record().to_dict()["cluster"] == CLUSTER
    assert "cluster" not in record(cluster=None).to_dict()


def test_text_shows_the_cluster_beside_the_kernel():
    stream = io.StringIO()
    render.print_summary(record(), None, "summary", stream)
    first, restart = stream.getvalue().splitlines()
    assert first == ("[oomguard] cell 3: +0 B (peak +0 B) · dask cluster +512 MiB "
                     "(sampled peak +530 MiB) · 4.0 s")
    assert restart == ("[oomguard] worker tcp://127.0.0.1:3 restarted: its nanny restarted "
                       "it for exceeding the memory limit, 1000 MiB in use of 1.0 GiB; "
                       "it was running task hog-1")
    verbose = render.summary_lines(record(), None, True, render.Glyphs(None))
    assert "  dask cluster at tcp://127.0.0.1:8786 (2 workers): 200 MiB → 712 MiB, " \
           "sampled peak 730 MiB of 2.0 GiB limit" in verbose
    assert "    worker tcp://127.0.0.1:1: peak 365 MiB" in verbose
    table = render.cells_table([record(), record(execution_count=4, cluster=None)],
                               render.Glyphs(None)).splitlines()
    assert "cluster Δ" in table[0] and table[0].endswith("workers lost")
    assert "+512 MiB" in table[1] and "+530 MiB" in table[1] and table[1].endswith("1")
    assert "cluster" not in render.cells_table([record(cluster=None)], render.Glyphs(None))


def exported(tmp_path, fmt):
    timeline = Timeline()
    for i in range(3):
        timeline.add_sample({"t": 1_750_000_000.0 + i, "rss": GiB, "notes": [],
                             "limit_source": "none",
                             "cluster": {"engine": "dask", "memory": (200 + 256 * i) * MiB,
                                         "limit": 2 * GiB, "workers": 2}})
    timeline.add_sample({"t": 1_750_000_003.0, "rss": GiB, "notes": [],
                         "limit_source": "none"})
    timeline.add_cell(record().to_dict())
    timeline.add_cell(record(execution_count=4, cluster=None).to_dict())
    return exporters.export(tmp_path / f"mem.{fmt}", fmt, timeline.samples(),
                            timeline.cells())


def test_the_timeline_keeps_cluster_figures_only_where_there_are_some():
    timeline = Timeline()
    figures = {"engine": "dask", "memory": 5, "limit": None, "workers": 1}
    timeline.add_sample({"t": 1.0, "cluster": figures})
    timeline.add_sample({"t": 2.0})
    with_cluster, without = timeline.samples()
    assert with_cluster["cluster"] == figures and "cluster" not in without


def test_csv_json_and_trace_include_the_cluster(tmp_path):
    samples_csv, cells_csv = exported(tmp_path, "csv")
    with open(samples_csv) as f:
        rows = list(csv.DictReader(f))
    assert [r["cluster_memory"] for r in rows] == \
        [str(200 * MiB), str(456 * MiB), str(712 * MiB), ""]
    assert rows[0]["cluster_limit"] == str(2 * GiB) and rows[0]["cluster_workers"] == "2"
    with open(cells_csv) as f:
        reader = csv.DictReader(f)
        cells = list(reader)
    header = reader.fieldnames
    assert [h for h in header if h.startswith("cluster_")] == \
        list(exporters.CELL_CLUSTER_COLUMNS)
    first, second = cells
    assert first["cluster_delta"] == str(512 * MiB)
    assert first["cluster_peak_delta"] == str(530 * MiB)
    assert first["cluster_per_worker"] == \
        f"tcp://127.0.0.1:1={365 * MiB}; tcp://127.0.0.1:2={360 * MiB}"
    assert first["cluster_restarted"].startswith("tcp://127.0.0.1:3 (its nanny restarted")
    assert all(second[h] == "" for h in exporters.CELL_CLUSTER_COLUMNS)

    (json_path,) = exported(tmp_path, "json")
    with open(json_path) as f:
        timeline = json.load(f)
    assert timeline["cells"][0]["cluster"] == CLUSTER
    assert "cluster" not in timeline["cells"][1]

    (trace_path,) = exported(tmp_path, "trace")
    with open(trace_path) as f:
        events = json.load(f)["traceEvents"]
    memory = [e["args"]["MiB"] for e in events if e["name"] == "dask cluster memory"]
    assert memory == [200.0, 456.0, 712.0]
    (cell,) = [e for e in events if e["name"] == "cell [3]"]
    assert cell["args"]["cluster"]["delta_MiB"] == 512.0
    assert cell["args"]["cluster"]["restarted"].startswith("tcp://127.0.0.1:3")


def test_a_plain_timeline_exports_no_cluster_columns(tmp_path):
    timeline = Timeline()
    timeline.add_sample({"t": 1.0, "rss": 1, "notes": [], "limit_source": "none"})
    timeline.add_cell(record(cluster=None).to_dict())
    samples_csv, cells_csv = exporters.export(tmp_path / "m.csv", "csv",
                                              timeline.samples(), timeline.cells())
    for path in (samples_csv, cells_csv):
        with open(path) as f:
            assert "cluster_" not in f.readline()


def test_oomguard_imports_no_cluster_engine():
    import subprocess
    import sys
    code = ("import sys, time, oomguard\n"
            "oomguard.enable(interval=0.2, summary='off', spool=False)\n"
            "time.sleep(0.7)\n"
            "oomguard.disable()\n"
            "print(sorted(m for m in ('distributed', 'dask', 'ray') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
