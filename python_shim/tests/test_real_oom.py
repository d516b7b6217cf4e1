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


def test_the_watchdog_keeps_growing_dataloader_workers_under_the_real_limit(
        kernel_in_cgroup):
    # Workers are not interrupted: they finish the items already asked of them (2 workers
    # x prefetch 2 x 64 MiB). Before the margin learnt their steps, the watchdog acted at
    # 95%, ~100 MiB from the limit, and the OOM killer ended a worker (3 of 3 runs).
    _session, group, said = _dataloader_stopped(kernel_in_cgroup, mib=64)
    time.sleep(2)  # what the workers were asked for before the interrupt
    assert group.oom_kills() == 0
    assert "Its child processes (DataLoader workers) were not interrupted" in said


def _shown_bytes(text: str) -> float:
    size, unit = text.split()
    return float(size) * (GiB if unit == "GiB" else MiB)


def test_the_stop_message_says_which_figure_is_the_containers_and_which_the_kernels(
        kernel_in_cgroup):
    # It once said "The kernel holds 1.1 GiB now" of the container's reading (the
    # workers' memory) while the kernel held 263 MiB.
    session, group, said = _dataloader_stopped(kernel_in_cgroup, mib=16)
    kernel_rss = session.evaluate(
        "[int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
        "if l.startswith('VmRSS:')][0]")
    found = re.search(r"In use now: ([\d.]+ [MG]iB) in the container \(this kernel's memory "
                      r"cgroup, its child processes included\); the kernel process's own "
                      r"resident set: ([\d.]+ [MG]iB)\.", said)
    assert found, said
    container, kernel = (_shown_bytes(found.group(i)) for i in (1, 2))
    assert abs(kernel - kernel_rss) <= max(0.1 * kernel_rss, 64 * MiB), (said, kernel_rss)
    assert abs(container - group.working_set()) <= 128 * MiB, (said, group.working_set())
    assert container > kernel  # the workers hold most of it


def test_oomguard_release_gives_back_what_the_interrupted_loaders_workers_hold(
        kernel_in_cgroup):
    # After the interrupt, the traceback kept for %debug holds the DataLoader's iterator,
    # so `del loader` leaves its workers and what they loaded alive; the shim's advice
    # "del name" did not work there. `%oomguard release` drops that traceback, on request.
    session, group, said = _dataloader_stopped(kernel_in_cgroup, mib=64)
    assert "%oomguard release" in said
    kernel_pid = session.km.provisioner.pid
    time.sleep(2)  # the workers finish what they were asked for
    session.execute("del loader\nimport gc\ngc.collect()")
    held = group.working_set()
    assert [pid for pid in group.pids() if pid != kernel_pid], "the workers live on"
    reply, messages = session.run("%oomguard release", timeout=60)
    assert reply["status"] == "ok"
    out = "".join(m["content"]["text"] for m in messages
                  if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
    assert "dropped the last error's traceback" in out
    assert group.working_set() < held - 512 * MiB, (held, group.working_set(), out)
    assert group.pids() == [kernel_pid]
    assert session.evaluate("sentinel") == "defined before the risky cell"


# -- the default mode ("auto") against the real limit ------------------------------------
DEFAULTS = "import oomguard\noomguard.enable(summary='off')"  # mode "auto", the watchdog


def _guarded_by_default(kernel_in_cgroup):
    session, group = kernel_in_cgroup(2 * GiB)
    session.execute(SENTINEL + "\n" + DEFAULTS)
    return session, group


def test_by_default_an_exact_allocation_that_cannot_fit_is_blocked(kernel_in_cgroup):
    session, group = _guarded_by_default(kernel_in_cgroup)
    reply, _said = execute_until_done_or_dead(session, "x = np.ones(int(2.5 * 2**30 / 8))")
    assert reply is not None and reply["ename"] == "InputRejected"
    shown = "\n".join(reply["traceback"])
    assert "its size is exact" in shown and "oomguard.enable(hard_cap=True)" in shown
    assert group.oom_kills() == 0
    assert session.evaluate("sentinel") == "defined before the risky cell"
    assert session.evaluate("oomguard.cells()[-1].status") == "blocked"

    # With 1.2 GiB already held, 1 GiB more cannot fit either.
    session.execute("held = np.ones(int(1.2 * 2**30) // 8)")
    reply, _said = execute_until_done_or_dead(session, "y = np.ones(2**30 // 8)")
    assert reply is not None and reply["ename"] == "InputRejected", reply
    assert group.oom_kills() == 0
    assert session.evaluate("int(held.sum()) == int(1.2 * 2**30) // 8")


def test_by_default_page_cache_in_the_way_is_a_warning_and_the_cell_survives(
        kernel_in_cgroup, tmp_path):
    # A 1.5 GiB file read by the kernel: its page cache is charged to the kernel's group,
    # and reclaimed when memory is needed; 1 GiB fits in the limit less the working set.
    path = tmp_path / "data.bin"
    with open(path, "wb") as f:
        for _ in range(24):
            f.write(b"\x01" * (64 << 20))
        f.flush()
        import os
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # not in our cache
    session, group = _guarded_by_default(kernel_in_cgroup)
    session.execute(f"with open({str(path)!r}, 'rb') as f:\n"
                    "    while f.read(16 << 20):\n"
                    "        pass")
    cached = group.usage() - group.working_set()
    assert cached > GiB, (group.usage(), group.working_set())
    reply, said = execute_until_done_or_dead(session, "x = np.ones(2**30 // 8)")
    assert reply is not None and reply["status"] == "ok", (reply, said)
    assert "only once the kernel reclaims" in said
    assert group.oom_kills() == 0
    assert session.evaluate("x.nbytes") == 2**30
    assert session.evaluate("sentinel") == "defined before the risky cell"
