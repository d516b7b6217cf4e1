"""oomguard against the real OOM killer: a real kernel in a real 2 GiB memory cgroup
(conftest's `kernel_in_cgroup`). The kernel reads the group's limit; a loop that appends
64 MiB arrays is killed by the kernel's OOM killer without oomguard (its count rises) and
interrupted by the watchdog with it, an earlier variable intact; the hard cap stops one
giant allocation. The full matrix is benchmarks/survival_real.py. About half a minute."""
import pytest
from oom_killer import execute_until_done_or_dead
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
