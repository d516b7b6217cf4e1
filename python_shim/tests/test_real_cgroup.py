"""The real memory-cgroup harness itself (real_cgroup.py, enter_cgroup.py): the limit is
the kernel's, the OOM killer's count is read, nothing is left behind — also when the
process that made a group exits or is terminated without removing it."""
import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from real_cgroup import WRAPPER, MemoryCgroup, MiB, Unavailable, own_memory_cgroup, unavailable

needs_cgroup = pytest.mark.skipif(unavailable() is not None,
                                  reason=f"no real memory limit here: {unavailable()}")

TESTS = os.path.dirname(os.path.abspath(__file__))


def _wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True  # a zombie: dead, not yet reaped
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("lines, said", [
    ("0::/user.slice/session.scope\n", "cgroup v2 only"),
    ("12:cpu,cpuacct:/\n", "no cgroup v1 memory controller"),
    ("4:memory:/no/such/group\n", "is not visible at /sys/fs/cgroup/memory/no/such/group"),
])
def test_where_no_group_can_be_made_it_says_why(tmp_path, lines, said):
    (tmp_path / "cgroup").write_text(lines)
    with pytest.raises(Unavailable, match=said):
        own_memory_cgroup(str(tmp_path / "cgroup"))


@needs_cgroup
def test_a_group_is_a_uniquely_named_child_of_our_own_memory_cgroup():
    with MemoryCgroup(256 * MiB) as first, MemoryCgroup(256 * MiB) as second:
        assert os.path.dirname(first.path) == own_memory_cgroup()
        assert str(os.getpid()) in first.name and first.name != second.name
        assert first.name.startswith("oomguard-")
        with open(os.path.join(first.path, "memory.limit_in_bytes")) as f:
            assert int(f.read()) == 256 * MiB
        assert (first.oom_kills(), first.pids()) == (0, [])
    assert not os.path.exists(first.path) and not os.path.exists(second.path)


@contextlib.contextmanager
def _child_in(group, allocate):
    """A Python child moved into `group` before it allocates: it waits for a line on
    stdin, allocates `allocate` bytes, waits for another line, exits. Yields `go()`."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline(); "
         f"x = b'1' * {allocate}; sys.stdin.readline()"], stdin=subprocess.PIPE)

    def go():
        child.stdin.write(b"go\n")
        child.stdin.flush()
    try:
        group.add(child.pid)
        assert group.pids() == [child.pid]
        yield child, go
    finally:
        child.kill()
        child.wait()


@needs_cgroup
def test_a_process_past_the_limit_is_killed_by_the_oom_killer_and_counted():
    with MemoryCgroup(64 * MiB, purpose="killed") as group:
        with _child_in(group, 256 * MiB) as (child, go):
            go()
            assert child.wait(30) == -signal.SIGKILL
        assert group.oom_kills() == 1
        assert group.max_usage() <= 64 * MiB
        assert group.oom_control()["under_oom"] == 0


@needs_cgroup
def test_a_process_under_the_limit_runs_and_is_charged_there():
    with MemoryCgroup(512 * MiB) as group:
        group.reset_max_usage()
        with _child_in(group, 128 * MiB) as (child, go):
            go()
            deadline = time.monotonic() + 20
            while group.usage() < 128 * MiB and time.monotonic() < deadline:
                time.sleep(0.05)
            assert 128 * MiB <= group.max_usage() < 256 * MiB
            assert group.stat()["total_rss"] >= 128 * MiB
            assert group.working_set() <= group.usage()
            go()
            assert child.wait(20) == 0
        assert group.oom_kills() == 0


@needs_cgroup
def test_remove_kills_what_is_left_and_its_children_and_removes_the_group():
    group = MemoryCgroup(128 * MiB, purpose="leftovers")
    shell = subprocess.Popen(["sh", "-c", "read line; sleep 300 & sleep 300"],
                             stdin=subprocess.PIPE)
    try:
        group.add(shell.pid)
        shell.stdin.write(b"go\n")
        shell.stdin.flush()
        deadline = time.monotonic() + 10
        while len(group.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        members = group.pids()
        assert len(members) == 3  # the shell and both sleeps: children follow
        group.remove()
        assert not os.path.exists(group.path)
        assert all(_wait_gone(pid) for pid in members)
        group.remove()  # again: nothing to do
    finally:
        shell.kill()
        shell.wait()
        group.remove()


MAKER = ("import sys, time; sys.path.insert(0, {tests!r}); import real_cgroup; "
         "g = real_cgroup.MemoryCgroup(64 << 20, purpose='orphan'); print(g.path, flush=True); "
         "{then}")


@needs_cgroup
@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_a_group_left_by_a_process_that_ends_is_removed(ending):
    then = "pass" if ending == "exit" else "time.sleep(60)"
    maker = subprocess.Popen([sys.executable, "-c", MAKER.format(tests=TESTS, then=then)],
                             stdout=subprocess.PIPE, text=True)
    try:
        path = maker.stdout.readline().strip()
        assert path.startswith(own_memory_cgroup() + "/oomguard-")
        if ending == "sigterm":
            assert os.path.isdir(path)
            maker.send_signal(signal.SIGTERM)
        returncode = maker.wait(20)
        assert returncode == (0 if ending == "exit" else -signal.SIGTERM)
        assert not os.path.exists(path)
    finally:
        maker.kill()
        maker.wait()


@pytest.mark.parametrize("args, said", [
    (["--cgroup", "/tmp"], "is not a cgroup v1 memory group"),
    (["--cgroup-file", "no-such-file.txt"], "no memory cgroup named in"),
    (["-f", "x.json"], "usage:"),
])
def test_the_kernel_wrapper_refuses_to_start_a_kernel_without_its_limit(tmp_path, args, said):
    done = subprocess.run([sys.executable, WRAPPER, *args, "-f", "x.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 3
    assert said in done.stderr and "the kernel is not started" in done.stderr
