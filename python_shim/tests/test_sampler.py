"""The sampler thread: cadence, live interval changes, stop/start, failures."""
import threading
import time

from oomguard.sampler import THREAD_NAME, Sampler


def sampler_threads():
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def collect(sampler):
    got = []
    sampler.add_sink(got.append)
    return got


def test_start_is_idempotent_and_stop_ends_the_thread():
    sampler = Sampler(lambda: {"t": time.time()}, interval=0.05)
    got = collect(sampler)
    before = len(sampler_threads())
    sampler.start()
    sampler.start()
    assert len(sampler_threads()) == before + 1
    time.sleep(0.3)
    sampler.stop()
    sampler.stop()
    assert len(sampler_threads()) == before and not sampler.running
    count = len(got)
    assert 3 <= count <= 8
    time.sleep(0.15)
    assert len(got) == count  # nothing after stop
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    assert len(got) > count  # restartable


def test_interval_change_applies_at_once():
    sampler = Sampler(lambda: {"t": time.time()}, interval=30)
    got = collect(sampler)
    sampler.start()
    try:
        time.sleep(0.1)
        assert len(got) == 1
        sampler.set_interval(0.05)
        time.sleep(0.4)
        assert len(got) >= 5
    finally:
        sampler.stop()


def test_failures_never_stop_sampling(caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) % 2:
            raise OSError("gone")
        return {"t": 0}

    def bad_sink(reading):
        raise ValueError("sink")

    sampler = Sampler(flaky, interval=0.02)
    good = collect(sampler)
    sampler.add_sink(bad_sink)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    assert len(good) >= 3
    kinds = [r.getMessage() for r in caplog.records if r.name == "oomguard"]
    assert len(kinds) == 2  # once per kind of failure, not once per tick
