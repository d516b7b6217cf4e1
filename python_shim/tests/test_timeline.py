"""The in-memory timeline: bounds, what goes in comes out, odd input, threads, cost."""
import gc
import threading
import time
import tracemalloc

from oomguard.timeline import GPU_FIELDS, SAMPLE_FIELDS, Timeline


def reading(i, **extra):
    """A sample body shaped like the sampler's, with values that change per sample."""
    sample = {"t": 1_700_000_000.0 + i / 10, "rss": 300 * 2**20 + i * 4096,
              "children_rss": 0, "limit": 16 * 2**30, "limit_source": "cgroup v2",
              "used": 2**30 + i * 8192, "free": 15 * 2**30 - i * 8192,
              "host_total": 64 * 2**30, "host_available": 40 * 2**30 - i * 4096,
              "notes": ["children RSS could not be read"]}
    sample.update(extra)
    return sample


def gpu(index, used):
    return {"index": index, "uuid": f"GPU-{index}", "name": "NVIDIA H100", "used": used,
            "total": 80 * 2**30, "process_used": used // 2, "torch_allocated": used // 4,
            "torch_reserved": used // 3, "source": "nvml"}


def test_bounds_keep_the_newest_oldest_first():
    timeline = Timeline(max_samples=5, max_cells=3)
    for i in range(12):
        timeline.add_sample(reading(i))
        timeline.add_cell({"execution_count": i, "start": float(i), "duration": 0.1})
    assert [s["t"] for s in timeline.samples()] == [reading(i)["t"] for i in range(7, 12)]
    assert [c["execution_count"] for c in timeline.cells()] == [9, 10, 11]
    assert len(timeline) == 5
    assert (timeline.samples_added, timeline.cells_added) == (12, 12)
    timeline.clear()
    assert timeline.samples() == [] and timeline.cells() == []


def test_samples_come_back_as_they_went_in():
    timeline = Timeline()
    sent = [
        reading(0, gpus=[gpu(0, 2**30), gpu(1, 0)], running_cell=None),
        reading(1, gpus=[gpu(0, 2**30), gpu(1, 0)],  # unchanged GPUs: shared, still equal
                running_cell={"execution_count": 4, "cell_id": "abc", "start": 1.5}),
        reading(2, gpus=[], future_field={"x": [1, 2]}),  # a field added later to v1
        reading(3, gpus=None, notes=[]),
        {"t": 5.0, "rss": None},  # most fields missing
    ]
    for sample in sent:
        timeline.add_sample(sample)
    got = timeline.samples()
    assert len(got) == len(sent)
    for before, after in zip(sent, got):
        assert set(after) >= set(SAMPLE_FIELDS)
        for name in set(SAMPLE_FIELDS) | set(before):
            assert after[name] == before.get(name), name
    assert got[-1]["limit"] is None and got[-1]["gpus"] is None  # missing -> None
    assert set(got[0]["gpus"][0]) == set(GPU_FIELDS)


def test_snapshots_are_copies_in_both_directions():
    timeline = Timeline()
    sample = reading(0, gpus=[gpu(0, 10)])
    cell = {"execution_count": 1, "start": 1.0, "duration": 2.0, "notes": []}
    timeline.add_sample(sample)
    timeline.add_cell(cell)
    sample["rss"] = -1
    sample["notes"].append("changed later")
    sample["gpus"][0]["used"] = -1
    cell["execution_count"] = 99
    got = timeline.samples()[0]
    assert got["rss"] == reading(0)["rss"] and got["notes"] == reading(0)["notes"]
    assert got["gpus"][0]["used"] == 10
    assert timeline.cells()[0]["execution_count"] == 1
    got["rss"] = 0
    timeline.cells()[0]["status"] = "changed"
    assert timeline.samples()[0]["rss"] == reading(0)["rss"]
    assert "status" not in timeline.cells()[0]


def test_a_whole_sample_message_loses_its_envelope():
    timeline = Timeline()
    timeline.add_sample({"v": 1, "type": "sample", **reading(0)})
    got = timeline.samples()[0]
    assert "v" not in got and "type" not in got and got["rss"] == reading(0)["rss"]


class Hostile:
    """A value whose comparison and truth raise, as a numpy array's would."""

    def __eq__(self, other):
        raise ValueError("ambiguous")

    def __bool__(self):
        raise ValueError("ambiguous")

    __hash__ = object.__hash__


class CellObject:
    def to_dict(self):
        return {"execution_count": 7, "start": 2.0, "duration": 1.0}


def test_odd_input_never_raises():
    timeline = Timeline()
    odd = Hostile()
    for value in (None, 3, "text", [1], odd):
        timeline.add_sample(value)
        timeline.add_cell(value)
    timeline.add_sample(reading(0, rss=odd, notes=[odd], gpus=[odd, gpu(0, 1)]))
    timeline.add_sample(reading(1, rss=odd, notes=[odd], gpus=[odd, gpu(0, 1)]))
    timeline.add_sample({"t": float("nan"), 5: "non-string key"})
    timeline.add_cell(CellObject())
    samples = timeline.samples()
    assert len(samples) == 3
    assert samples[0]["rss"] is odd and samples[1]["gpus"][0] is odd
    assert samples[1]["gpus"][1]["used"] == 1
    assert samples[2][5] == "non-string key"
    assert timeline.cells() == [CellObject().to_dict()]


def test_a_writer_thread_and_readers_at_once():
    timeline = Timeline(max_samples=500, max_cells=200)
    total = 5000
    stop = threading.Event()
    errors = []
    reads = []

    def write_samples():
        try:
            for i in range(total):
                timeline.add_sample(reading(i, gpus=[gpu(0, i)]))
        except Exception as exc:  # would be a bug: add_sample must never raise
            errors.append(exc)
        finally:
            stop.set()

    def write_cells():
        i = 0
        while not stop.is_set():
            timeline.add_cell({"execution_count": i, "start": float(i), "duration": 0.0})
            i += 1
            time.sleep(0.0001)

    def read():
        try:
            while not stop.is_set():
                samples = timeline.samples()
                times = [s["t"] for s in samples]
                assert times == sorted(times) and len(samples) <= 500
                counts = [c["execution_count"] for c in timeline.cells()]
                assert counts == sorted(counts) and len(counts) <= 200
                reads.append(len(samples))
                time.sleep(0.001)  # a busy reader would only starve the writer of the GIL
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (write_samples, write_cells, read, read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(reads) >= 2  # the readers did read while the writer wrote
    assert timeline.samples_added == total
    assert [s["rss"] for s in timeline.samples()] == [reading(i)["rss"]
                                                      for i in range(total - 500, total)]


def test_samples_cost_less_memory_than_the_dicts_they_came_from():
    gc.collect()
    tracemalloc.start()
    try:
        count = 5000
        readings = [reading(i, gpus=[gpu(0, 2**30 + i)]) for i in range(count)]
        as_dicts, _ = tracemalloc.get_traced_memory()
        timeline = Timeline()
        for sample in readings:
            timeline.add_sample(sample)
        del readings, sample
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The timeline owns the changing numbers now; what the dicts and lists cost is gone.
    assert kept < 0.6 * as_dicts, (kept / count, as_dicts / count)
    assert len(timeline) == count


def test_adding_a_sample_is_cheap():
    timeline = Timeline(max_samples=1000)
    samples = [reading(i, gpus=[gpu(0, i)]) for i in range(2000)]
    started = time.perf_counter()
    for sample in samples:
        timeline.add_sample(sample)
    per_sample = (time.perf_counter() - started) / len(samples)
    # The sampler calls this at up to 10 Hz: even 1 ms would be 1 % of a core.
    assert per_sample < 1e-3
