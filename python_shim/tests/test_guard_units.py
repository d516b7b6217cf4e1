"""The guard's parts without a kernel: the allow line, the watchdog thread and its margin,
the hard cap."""
import resource
from pathlib import Path
import sys
import time

import pytest

import oomguard

from oomguard.guard.hardcap import HardCap, read_vm_data
from oomguard.guard.precheck import allows, strip_allow_line
from oomguard.guard.growth import Growth, Steps
from oomguard.probes.heap import SLOW_IN_A_ROW, HeapInUse
from oomguard.guard.text import watchdog_note
from oomguard.guard.watchdog import (MIN_FURTHER_GROWTH, Arming, Watchdog,
                                     further_growth_trigger, kernel_rss)

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


def test_the_watchdogs_reading_matches_vmrss():
    with open("/proc/self/status") as f:
        rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
    assert abs(kernel_rss() - rss) < 32 * MiB


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


class FakeCells:
    """The recorder as the guard sees it (guard/collaborators.py)."""

    def __init__(self, ram_before=None):
        self.ram_before, self.notes = ram_before, []

    def running_cell(self):
        return None

    def running_ram_before(self):
        return self.ram_before

    def add_note(self, note):
        self.notes.append(note)

    def mark_interrupted(self, note):
        self.notes.append(note)

    def attach_findings(self, findings):
        pass


class FakeFigures:
    def __init__(self, limits, usage=None):
        self.limits, self.usage, self.usage_reads = limits, usage, 0

    def limits_now(self):
        return self.limits

    def limits_recent(self, max_age):
        return self.limits

    def container_usage(self):
        self.usage_reads += 1
        return self.usage


class NoFrontEnd:
    open_comms = 0

    def __init__(self):
        self.starts_told = 0

    def send_all(self, message):
        raise AssertionError("no front end is attached")

    def tell_cell_start(self):
        self.starts_told += 1


def make_guard(limits=None, usage=None, ram_before=None):
    from oomguard.guard import Guard
    return Guard(FakeCells(ram_before), FakeFigures(limits or {}, usage), lambda: None,
                 NoFrontEnd())


def test_the_watchdog_reads_what_the_binding_limit_counts():
    guard = make_guard()
    reader, what = guard._reader({"limit_source": "cgroup v2"})
    assert reader == guard._cgroup_usage and "container" in what
    for source in ("physical", "MEM_LIMIT", "setting", "unknown"):
        reader, what = guard._reader({"limit_source": source})
        assert reader is guard._rss and "kernel" in what


def test_arming_reads_nothing_another_part_measured_already():
    GiB = 1 << 30
    # The kernel's memory: the recorder's reading at the cell's start.
    guard = make_guard(ram_before=3 * GiB)
    limits = {"limit": 10 * GiB, "limit_source": "physical"}
    assert guard._used_now(guard._rss, limits, 9 * GiB) == 3 * GiB
    # The container's: the last reading plus what the kernel added since, far from the
    # trigger; read only where that comes near it.
    limits = {"limit": 10 * GiB, "limit_source": "cgroup v1", "used": 2 * GiB,
              "rss": 1 * GiB}
    guard = make_guard(limits, usage=5 * GiB, ram_before=2 * GiB)
    assert guard._used_now(guard._cgroup_usage, limits, int(9.5 * GiB)) == 3 * GiB
    assert guard.figures.usage_reads == 0
    near = dict(limits, used=8 * GiB)
    assert guard._used_now(guard._cgroup_usage, near, int(9.5 * GiB)) == 5 * GiB
    assert guard.figures.usage_reads == 1
    # No reading with the kernel's RSS to move it by: measured.
    assert guard._used_now(guard._cgroup_usage, dict(limits, rss=None), 9 * GiB) == 5 * GiB


def test_a_cell_start_is_told_at_once_only_where_the_watchdog_cannot_tell_it_in_time():
    """comm.py holds a cell's cell_start for the watchdog's thread to send once the cell
    has run a while; the guard has it sent at once where no watchdog watches the cell,
    or where the cell starts so near the limit that it could be killed before."""
    from oomguard.guard.core import within_reach
    GiB, MiB = 1 << 30, 1 << 20
    assert within_reach(int(1.6 * GiB), 2 * GiB) and not within_reach(GiB, 2 * GiB)
    assert within_reach(91 * GiB, 100 * GiB) and not within_reach(89 * GiB, 100 * GiB)
    assert within_reach(2 * GiB - 300 * MiB, 2 * GiB)
    limits = {"limit": 10 * GiB, "limit_source": "physical"}
    told = {}
    for name, used, settings in (("far", 3 * GiB, {}), ("near", int(9.5 * GiB), {}),
                                 ("no watchdog", 3 * GiB, {"watchdog": None}),
                                 ("no limit", 3 * GiB, {"limit": None})):
        guard = make_guard({} if "limit" in settings else limits, ram_before=used)
        if "watchdog" in settings:
            guard.apply_setting("watchdog", None, print)
        guard._pre_run_cell()
        guard.watchdog.disarm()
        told[name] = guard.front_end.starts_told
        guard.unregister()
    assert told == {"far": 0, "near": 1, "no watchdog": 1, "no limit": 1}


def test_an_armed_cell_does_not_wake_a_polling_watchdog():
    dog = Watchdog(lambda firing: None, poll=0.005)
    dog.start()
    try:
        time.sleep(0.05)  # polling: it has seen no cell for less than IDLE_AFTER
        dog.arm(Arming(trigger=100, limit=200, reader=lambda: 0, what="test"))
        assert not dog._wake.is_set()
        dog.disarm()
    finally:
        dog.stop()
    sleeping = Watchdog(lambda firing: None, poll=0.005, idle_after=0.0)
    sleeping.start()
    try:
        time.sleep(0.05)  # nothing armed for longer than idle_after: asleep
        seen = []
        sleeping.arm(Arming(trigger=100, limit=200, reader=lambda: seen.append(1) or 0,
                            what="test"))
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seen  # the arming woke it
        sleeping.disarm()
    finally:
        sleeping.stop()


# -- the margin that follows the cell's own growth (guard/growth.py) ---------------------
def _fed(*points, scale=1.0):
    steps = Steps()
    for data, resident in points:
        steps.feed(data * MiB, resident * MiB, scale=scale)
    return steps


def test_a_chunk_loop_steps_by_its_chunks():
    # Each chunk maps 200 MiB at once (data jumps), then is written page by page.
    points = [(100, 100)]
    for chunk in range(1, 5):
        base = 100 + 200 * (chunk - 1)
        points += [(base + 200, base + 50), (base + 200, base + 150), (base + 200, base + 200)]
    assert _fed(*points).repeated == 200 * MiB
    # The kernel's rises between readings are scaled to the fast poll; chunks still count.
    assert _fed(*points, scale=0.2).repeated == 200 * MiB


def test_growth_into_reused_memory_steps_by_what_it_adds_between_readings():
    # A worker's heap has room from before: `data` never rises, the resident set does.
    points = [(500, 100)] + [(500, 100 + 48 * i) for i in range(1, 10)]
    assert _fed(*points).repeated == 48 * MiB


def test_chunks_carved_out_of_an_old_heap_step_by_the_heaps_count():
    # The kernel once held 2 GiB and freed it: `data` stays, chunks of 128 MiB reuse it.
    # Only glibc's count of the bytes in use rises, by a chunk when malloc returns it.
    steps, in_use = Steps(), 50
    steps.feed(2200 * MiB, 300 * MiB, scale=0.2, in_use=in_use * MiB)
    resident = 300
    for _chunk in range(6):
        in_use += 128
        for part in (40, 88):  # two readings 25 ms apart while the chunk is written
            steps.feed(2200 * MiB, (resident + part) * MiB, scale=0.2, in_use=in_use * MiB)
        resident += 128
        steps.feed(2200 * MiB, resident * MiB, scale=0.2, in_use=in_use * MiB)
    assert steps.repeated == 128 * MiB
    # Without the heap's count the same readings say only the scaled rises.
    blind = _fed(*[(2200, 300 + 128 * c + part) for c in range(6) for part in (40, 88, 128)],
                 scale=0.2)
    assert blind.repeated < 20 * MiB


def test_temporaries_freed_each_time_are_no_step_once_the_high_water_mark_holds():
    # A training loop: 300 MiB of activations allocated and freed each step, read every
    # 25 ms by the kernel's watchdog (its rises between readings scaled to 5 ms).
    points = [(100, 100)]
    for _ in range(5):
        points += [(400, 250), (400, 400), (100, 100)]
    steps = _fed(*points, scale=0.2)
    assert steps.between_allocations.first == 300 * MiB  # the first time only
    assert steps.repeated <= 30 * MiB  # the warm-up's two readings, scaled


def test_one_big_load_is_not_a_step_until_it_happens_twice():
    points = [(100, 100), (1100, 600), (1100, 1100)] + \
        [(1100 + 8 * i, 1100 + 8 * i) for i in range(1, 20)]
    steps = _fed(*points, scale=0.2)
    assert steps.repeated < 110 * MiB
    # A chunk loop after it still steps by its chunks.
    base = 1100 + 8 * 19
    for chunk in range(1, 4):
        steps.feed((base + 200 * chunk) * MiB, (base + 200 * chunk - 100) * MiB, scale=0.2)
        steps.feed((base + 200 * chunk) * MiB, (base + 200 * chunk) * MiB, scale=0.2)
    assert steps.repeated == 200 * MiB


def test_address_space_reserved_but_not_touched_is_no_step():
    assert _fed((100, 100), (164, 100), (228, 101), (292, 101)).repeated <= 1 * MiB


class FixedGrowth:
    """A stand-in for Growth with a margin already learnt."""

    def __init__(self, margin):
        self._margin, self.observed = margin, 0

    def observe(self):
        self.observed += 1

    def margin(self):
        return self._margin

    def kernel_step(self):
        return int(self._margin / 2.5)

    def step(self):
        return self.kernel_step()

    def child_steps(self):
        return []

    def children(self):
        return 0

    def close(self):
        pass


def test_the_trigger_comes_before_the_fraction_where_the_steps_say_so():
    arming = Arming(trigger=950, limit=1000, reader=lambda: 0, what="t",
                    growth=FixedGrowth(200))
    assert arming.trigger_now() == 800
    assert Arming(950, 1000, lambda: 0, "t", FixedGrowth(10)).trigger_now() == 950  # never later
    assert Arming(950, 1000, lambda: 0, "t", FixedGrowth(900), floor=300).trigger_now() == 300


def test_further_growth_after_a_firing_follows_the_steps_too():
    limit = 2048 * MiB
    assert further_growth_trigger(1900 * MiB, limit) == 1974 * MiB  # half-way
    assert further_growth_trigger(1500 * MiB, limit, margin=400 * MiB) == 1648 * MiB
    # Never less than MIN_FURTHER_GROWTH on: a cell that saves a checkpoint can hold.
    assert further_growth_trigger(1900 * MiB, limit, margin=500 * MiB) == \
        1900 * MiB + MIN_FURTHER_GROWTH


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_fires_at_the_learnt_margin_and_says_why():
    fired = []
    value = {"now": 0}
    growth = FixedGrowth(200)
    dog = Watchdog(fired.append, poll=0.005)
    dog.start()
    try:
        dog.arm(Arming(trigger=950, limit=1000, reader=lambda: value["now"], what="t",
                       growth=growth))
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            value["now"] = 850  # under the 95% trigger, over limit - margin
            while time.monotonic() - started < 5:
                time.sleep(0.001)
        firing = dog.disarm()
        assert growth.observed > 0 and firing.trigger == 800 and firing.step == 80
        note = watchdog_note(firing)
        assert "the watchdog acts at 800 B, before the next step could reach the limit: " \
               "the cell by up to 80 B at a time" in note
    finally:
        dog.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_growth_learns_this_process_and_closes():
    growth = Growth(children=True)
    chunks = []
    for _ in range(3):
        growth.observe()
        chunks.append(bytearray(64 * MiB))  # mapped at once, written at once
        growth.observe()
    assert growth.kernel_step() >= 48 * MiB
    assert growth.margin() >= 2.5 * 48 * MiB
    growth.close()
    growth.observe()  # closed: nothing is read, nothing raises


CHUNKS_IN_AN_OLD_HEAP = """
import ctypes, sys, threading, time
sys.path.insert(0, sys.argv[1])
from oomguard.guard.growth import Growth
from oomguard.probes.heap import heap_in_use
libc = ctypes.CDLL(None)
libc.mallopt(-4, 0)         # M_MMAP_MAX: no block is mapped afresh, all come from the heap
MiB = 1 << 20
held = [bytearray(64 * MiB) for _ in range(8)]
pin = bytearray(MiB)        # above them: the heap cannot shrink past it
del held
libc.malloc_trim(0)         # the pages go back, the address space stays
growth, done = Growth(children=False), threading.Event()
def watch():                # as the watchdog does, on its own thread
    while not done.is_set():
        growth.observe()
        time.sleep(0.01)
watcher = threading.Thread(target=watch)
watcher.start()
chunks = []
for _ in range(6):
    chunks.append(bytearray(64 * MiB))
    time.sleep(0.05)        # the loop's other work: each chunk is seen whole
done.set()
watcher.join()
print(heap_in_use().available, growth.kernel_step() // MiB)
growth.close()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_chunks_carved_out_of_an_old_heap_are_steps_in_a_real_process():
    import subprocess
    shim = str(Path(oomguard.__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", CHUNKS_IN_AN_OLD_HEAP, shim],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    available, step = out.stdout.split()
    if available != "True":
        pytest.skip("no glibc mallinfo2 here: the heap's count cannot be read")
    assert int(step) >= 48


def test_the_heaps_count_rises_by_a_block_when_it_is_handed_out():
    heap = HeapInUse()
    if not heap.available:
        pytest.skip("no glibc mallinfo2 here: the heap's count cannot be read")
    before = heap()
    block = bytearray(64 * MiB)
    assert heap() - before >= 64 * MiB
    del block


def test_a_heap_too_slow_to_read_stops_being_read_but_one_slow_call_does_not():
    class Info:
        uordblks, hblkhd = 10, 5

    def slow():
        time.sleep(0.002)
        return Info()

    calls = [slow, lambda: Info()]
    heap = HeapInUse(call=lambda: calls[0]())
    assert heap() == 15  # one slow call: a lost core, not a heap
    calls[0] = calls[1]
    assert heap() == 15
    calls[0] = slow
    for _ in range(SLOW_IN_A_ROW):
        heap()
    assert heap() is None and not heap.available


def test_small_blocks_other_threads_map_meanwhile_do_not_cut_a_chunk_in_two():
    points = [(100, 100)]
    for chunk in range(1, 5):
        base = 100 + 200 * (chunk - 1) + 6 * (chunk - 1)
        # 200 MiB mapped, then 6 MiB more by another thread while the pages are written.
        points += [(base + 200, base + 60), (base + 206, base + 130), (base + 206, base + 200)]
    assert _fed(*points).repeated >= 190 * MiB
