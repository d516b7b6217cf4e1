"""The guard's parts without a kernel: the allow line, the watchdog thread, the hard cap."""
import resource
import sys
import time

import pytest

from oomguard.guard.hardcap import HardCap, read_vm_data
from oomguard.guard.precheck import allows, strip_allow_line
from oomguard.guard.watchdog import Arming, StatmReader, Watchdog

MiB = 1 << 20


def test_the_allow_line_is_recognised_only_as_the_first_line():
    assert allows("%%oomguard allow\nx = 1")
    assert allows("\n  %%oomguard   allow \nx = 1")
    assert not allows("x = 1\n%%oomguard allow")
    assert not allows("%%oomguard allowed\nx = 1")
    assert not allows(None) and not allows("")


def test_stripping_the_allow_line_keeps_line_numbers():
    lines = ["%%oomguard allow\n", "x = 1\n", "y = x\n"]
    assert strip_allow_line(lines) == ["\n", "x = 1\n", "y = x\n"]
    other = ["%%time\n", "x = 1\n"]
    assert strip_allow_line(other) is other


def test_statm_reader_matches_vmrss():
    reader = StatmReader()
    try:
        with open("/proc/self/status") as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        assert abs(reader() - rss) < 32 * MiB
    finally:
        reader.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_interrupts_the_main_thread_past_the_trigger():
    fired = []
    value = {"now": 0}
    dog = Watchdog(fired.append, poll=0.005)
    dog.start()
    try:
        dog.arm(Arming(trigger=100, limit=200, reader=lambda: value["now"], what="test"))
        time.sleep(0.05)
        assert not fired  # below the trigger: nothing
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            value["now"] = 150
            while time.monotonic() - started < 5:
                time.sleep(0.001)
        assert time.monotonic() - started < 1.0
        firing = dog.disarm()
        assert firing is not None and firing.reading == 150 and fired == [firing]
    finally:
        dog.stop()


def test_a_disarmed_watchdog_never_fires():
    fired = []
    value = {"now": 0}
    dog = Watchdog(fired.append, poll=0.005)
    dog.start()
    try:
        dog.arm(Arming(trigger=100, limit=200, reader=lambda: value["now"], what="test"))
        time.sleep(0.03)
        assert dog.disarm() is None
        value["now"] = 1000  # the next cell's memory: not this watchdog's business
        time.sleep(0.1)
        assert fired == []
    finally:
        dog.stop()
    assert not dog.running


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_DATA") or read_vm_data() is None,
                    reason="needs RLIMIT_DATA and /proc/self/status")
def test_the_hard_cap_refuses_a_big_allocation_and_is_restored():
    original = resource.getrlimit(resource.RLIMIT_DATA)
    cap = HardCap()
    notes = []
    used = 100 * MiB
    try:
        # 300 MiB of headroom under a (pretend) limit: a 2 GiB allocation cannot fit.
        assert cap.apply(limit=int((used + 300 * MiB) / 0.98), used=used, notes=notes), notes
        assert cap.active and resource.getrlimit(resource.RLIMIT_DATA)[0] == cap.cap
        with pytest.raises(MemoryError):
            bytearray(2 << 30)
        small = bytearray(16 * MiB)  # what fits still works
        del small
    finally:
        cap.restore()
    assert resource.getrlimit(resource.RLIMIT_DATA) == original
    assert not cap.active


def test_the_hard_cap_without_figures_says_why_and_changes_nothing():
    original = resource.getrlimit(resource.RLIMIT_DATA)
    cap = HardCap()
    notes = []
    assert not cap.apply(limit=None, used=None, notes=notes)
    assert notes and "not set" in notes[0]
    assert resource.getrlimit(resource.RLIMIT_DATA) == original


def test_the_watchdog_reads_what_the_binding_limit_counts():
    from oomguard.guard import Guard
    guard = Guard(runtime=None)
    reader, what = guard._reader({"limit_source": "cgroup v2"})
    assert reader == guard._cgroup_usage and "container" in what
    for source in ("physical", "MEM_LIMIT", "setting", "unknown"):
        reader, what = guard._reader({"limit_source": source})
        assert reader is guard._rss and "kernel" in what
