"""/proc parsing on fixture files, and children RSS of a real child process."""
import os
import subprocess
import sys
import time

import pytest
from fs_trees import MiB, write_tree
from oomguard.probes.proc import ChildrenProbe, process_memory, read_meminfo, read_status

STATUS = """Name:\tpython
State:\tS (sleeping)
Pid:\t{pid}
PPid:\t1
VmPeak:\t  900000 kB
VmHWM:\t  {hwm} kB
VmRSS:\t  {rss} kB
Threads:\t3
"""


def stat_line(pid, ppid, comm="python"):
    return f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 0 0\n"


def test_status_and_meminfo_fixture(tmp_path):
    write_tree(tmp_path, {"self/status": STATUS.format(pid=7, hwm=2048, rss=1024),
                          "meminfo": "MemTotal:  2048 kB\nMemFree: 1 kB\nMemAvailable: 1024 kB\n"})
    assert read_status(str(tmp_path))["VmRSS"] == 1024 * 1024
    assert process_memory(str(tmp_path)) == (1024 * 1024, 2048 * 1024)
    assert read_meminfo(str(tmp_path)) == (2 << 20, 1 << 20)


def test_missing_files_are_none_with_notes(tmp_path):
    notes = []
    assert process_memory(str(tmp_path), notes) == (None, None)
    assert read_meminfo(str(tmp_path), notes) == (None, None)
    assert len(notes) == 2
    write_tree(tmp_path, {"meminfo": "MemTotal:  2048 kB\n"})  # kernels before 3.14
    notes = []
    assert read_meminfo(str(tmp_path), notes) == (2 << 20, None) and notes


def process_tree(tmp_path, with_children_files):
    """10 -> 11 -> 13 and 10 -> 12 (a zombie without VmRSS); 20 is unrelated."""
    files = {}
    for pid, ppid, rss in ((10, 1, 100), (11, 10, 30), (12, 10, None), (13, 11, 5), (20, 1, 999)):
        status = STATUS.format(pid=pid, hwm=rss or 0, rss=rss or 0)
        if rss is None:
            status = "\n".join(l for l in status.splitlines() if not l.startswith("Vm"))
        files[f"{pid}/status"] = status
        files[f"{pid}/stat"] = stat_line(pid, ppid, comm="py (worker) 1")
        if with_children_files:
            kids = {10: "11 12", 11: "13"}.get(pid, "")
            files[f"{pid}/task/{pid}/children"] = kids + " " if kids else ""
    if with_children_files:
        files["10/task/15/children"] = ""  # a second thread of the kernel, no children
    return write_tree(tmp_path, files)


@pytest.mark.parametrize("with_children_files", [True, False], ids=["task-children", "ppid-scan"])
def test_descendants_and_their_rss(tmp_path, with_children_files):
    probe = ChildrenProbe(process_tree(tmp_path, with_children_files), pid=10)
    assert sorted(probe.descendants()) == [11, 12, 13]
    assert probe.children_rss() == 35 * 1024


def test_children_rss_of_a_real_child_process():
    probe = ChildrenProbe()
    probe.DISCOVERY_INTERVAL = 0  # look for new children at every read
    baseline = probe.children_rss()
    assert baseline is not None
    code = ("import sys, time; x = b'\\x01' * (96 << 20); print('ready', flush=True); "
            "time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert child.pid in probe.descendants()
        assert probe.children_rss() - baseline >= 90 * MiB
        scan = ChildrenProbe()
        scan._task_files = False  # the fallback used where /proc/*/task/*/children is missing
        assert child.pid in scan.descendants()
    finally:
        child.kill()
        child.wait(timeout=10)
    time.sleep(0.05)
    assert child.pid not in probe.descendants()


def test_new_children_are_found_within_the_discovery_interval():
    probe = ChildrenProbe()
    probe.DISCOVERY_INTERVAL = 0.5
    probe.children_rss()
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; x = b'\\x01' * (64 << 20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while probe.children_rss() < 60 * MiB:
            assert time.monotonic() < deadline, "the child was never found"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait(timeout=10)
    deadline = time.monotonic() + 5
    while probe.children_rss() >= 60 * MiB:  # an exited child is dropped at once
        assert time.monotonic() < deadline, "the exited child still counted"
        time.sleep(0.05)


def test_own_process_is_measured():
    rss, hwm = process_memory()
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc on this system")
    assert rss > 10 * MiB and hwm >= rss
