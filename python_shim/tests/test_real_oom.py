"""oomguard against the real OOM killer: a real kernel in a real 2 GiB memory cgroup
(conftest's `kernel_in_cgroup`). The kernel reads the group's limit; a loop that appends
64 MiB arrays is killed by the kernel's OOM killer without oomguard (its count rises) and
interrupted by the watchdog with it, an earlier variable intact; the hard cap stops one
giant allocation. The full matrix is benchmarks/survival_real.py. About half a minute."""
import re
import time

import pytest
from oom_killer import DATALOADER_GROWS, execute_until_done_or_dead
from real_cgroup import GiB, MiB

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

SENTINEL = "import numpy as np\nsentinel = 'defined before the risky cell'"
LOOP = "hoard = []\nwhile True:\n    hoard.append(np.ones(8 << 20))  # 64 MiB, written\n"
GIANT = "big = np.ones(int(2.5 * 2**30) // 8)"  # one call, 2.5 GiB
# The pre-run check is off, so that only the runtime protections are tested.
GUARDED = "import oomguard\noomguard.enable(summary='off', mode='off'{})"


def _in_group(session, group) -> bool:
    lines = session.evaluate("open('/proc/self/cgroup').read()").splitlines()
    return any(":memory:" in line and line.endswith("/" + group.name) for line in lines)


def test_a_kernel_in_a_2_gib_group_reads_that_limit_from_cgroup_v1(kernel_in_cgroup):
    session, group = kernel_in_cgroup(2 * GiB)
    assert _in_group(session, group)
    assert session.evaluate("__import__('os').getpid()") in group.pids()
    reading = session.evaluate("__import__('oomguard').snapshot()")
    assert (reading["limit"], reading["limit_source"]) == (2 * GiB, "cgroup v1")
    # What counts against the limit is the group's working set, not the host's figures.
    assert abs(reading["used"] - group.working_set()) < 32 * MiB, (reading, group.usage())
    assert reading["oom_kills"] == 0


def test_without_oomguard_the_real_oom_killer_kills_the_kernel(kernel_in_cgroup):
    session, group = kernel_in_cgroup(2 * GiB)
    session.execute(SENTINEL)
    reply, _said = execute_until_done_or_dead(session, LOOP, timeout=60)
    assert reply is None and not session.km.is_alive()
    assert group.oom_kills() == 1
    assert group.pids() == []


def test_the_watchdog_interrupts_the_loop_before_the_real_limit(kernel_in_cgroup):
    session, group = kernel_in_cgroup(2 * GiB)
    session.execute(SENTINEL)
    session.execute(GUARDED.format(""))  # the default watchdog, 95% of what it reads
    group.reset_max_usage()
    reply, said = execute_until_done_or_dead(session, LOOP, timeout=60)
    assert reply is not None, "the kernel died"
    assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt")
    assert "oomguard: stopped at" in said
    assert group.oom_kills() == 0
    assert group.max_usage() < 2 * GiB
    assert session.evaluate("sentinel") == "defined before the risky cell"
    assert session.evaluate("len(hoard)") >= 20  # it ran most of the way: over 1.25 GiB
    assert session.evaluate("oomguard.cells()[-1].status") == "interrupted"


def test_the_hard_cap_stops_one_giant_allocation(kernel_in_cgroup):
    session, group = kernel_in_cgroup(2 * GiB)
    session.execute(SENTINEL)
    session.execute(GUARDED.format(", hard_cap=True"))
    reply, said = execute_until_done_or_dead(session, GIANT, timeout=60)
    assert reply is not None, "the kernel died"
    assert (reply["status"], reply["ename"]) == ("error", "MemoryError")
    assert "memory cap" in said
    assert group.oom_kills() == 0
    assert session.evaluate("sentinel") == "defined before the risky cell"
    # The cap is a setting of the session, not a side effect left for the next cell.
    session.execute("small = np.ones(16 << 20)")  # 128 MiB still fits


# Defects these tests found, for the watchdog's owner; strict, so that the fix shows.
WORKERS_RUN_ON = (
    "DEFECT: the watchdog interrupts the kernel's loop, not its DataLoader workers: they go "
    "on loading the items already asked for (2 workers x prefetch 2 x 64 MiB) past the "
    "~100 MiB left at the 95% trigger, and the OOM killer ends a worker (3 of 3 runs in "
    "benchmarks/survival_real.py)")
KERNEL_HOLDS_THE_GROUPS = (
    "DEFECT: the stop message says 'The kernel holds 2.0 GiB now' when the reading is the "
    "container's (the workers' memory); the kernel itself holds ~0.2 GiB. Say which, and "
    "give both")


def _dataloader_stopped(kernel_in_cgroup, mib):
    """A guarded kernel in a 2 GiB group whose DataLoader workers grow by `mib` MiB an
    item, after the watchdog stopped the loop: (session, group, the cell's stderr)."""
    session, group = kernel_in_cgroup(2 * GiB)
    session.execute("import torch\n" + SENTINEL)
    session.execute(GUARDED.format(""))
    reply, said = execute_until_done_or_dead(session, DATALOADER_GROWS.format(mib=mib),
                                             timeout=60)
    assert reply is not None and "oomguard: stopped at" in said
    return session, group, said


@pytest.mark.xfail(strict=True, reason=WORKERS_RUN_ON)
def test_the_watchdog_keeps_growing_dataloader_workers_under_the_real_limit(
        kernel_in_cgroup):
    _session, group, _said = _dataloader_stopped(kernel_in_cgroup, mib=64)
    time.sleep(2)  # what the workers were asked for before the interrupt
    assert group.oom_kills() == 0


@pytest.mark.xfail(strict=True, reason=KERNEL_HOLDS_THE_GROUPS)
def test_the_stop_message_does_not_call_the_workers_memory_the_kernels(kernel_in_cgroup):
    session, _group, said = _dataloader_stopped(kernel_in_cgroup, mib=16)
    kernel_rss = session.evaluate(
        "[int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
        "if l.startswith('VmRSS:')][0]")
    for size, unit in re.findall(r"kernel holds ([\d.]+) (MiB|GiB)", said):
        said_bytes = float(size) * (GiB if unit == "GiB" else MiB)
        assert abs(said_bytes - kernel_rss) <= max(0.1 * kernel_rss, 64 * MiB), (
            said, kernel_rss)
