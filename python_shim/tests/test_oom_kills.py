"""The OOM killer's count for our cgroup, on fixture trees: v2 memory.events, v1
memory.oom_control, a kernel too old to count, a missing or unreadable file."""
import os

from fs_trees import GiB, MiB, V1_MOUNT, V2_MOUNT, v1_dir, v2_dir, write_tree
from oomguard.probes.cgroup import CgroupProbe
from oomguard.probes.limits import LimitProbe

V2 = {"proc/self/cgroup": "0::/user.slice/kernel\n",
      "proc/self/mountinfo": V2_MOUNT.format(root="/", point="/sys/fs/cgroup")}
V1 = {"proc/self/cgroup": "4:memory:/kernel\n",
      "proc/self/mountinfo": V1_MOUNT.format(root="/")}
V2_LEAF = "sys/fs/cgroup/user.slice/kernel"
V1_LEAF = "sys/fs/cgroup/memory/kernel"


def v2_tree(tmp_path, **leaf):
    return write_tree(tmp_path, {**V2, **v2_dir(""),
                                 **v2_dir("/user.slice", memory_max=2 * GiB, current=GiB,
                                          oom_kill=9),
                                 **v2_dir("/user.slice/kernel", current=500 * MiB, **leaf)})


def v1_tree(tmp_path, **leaf):
    return write_tree(tmp_path, {**V1, **v1_dir("", 4 * GiB, usage=GiB, oom_kill=9),
                                 **v1_dir("/kernel", GiB, usage=300 * MiB, **leaf)})


def test_v2_reads_oom_kill_from_our_own_cgroups_memory_events(tmp_path):
    root = v2_tree(tmp_path, oom_kill=2)
    reading, notes = CgroupProbe(root).read()
    # Our cgroup's count, not the parent's (where the limit is, which counts others too).
    assert (reading.oom_kills, notes) == (2, [])
    assert reading.oom_kills_file == os.path.join(root, V2_LEAF, "memory.events")
    assert CgroupProbe(root).oom_kills() == (2, reading.oom_kills_file)


def test_v1_reads_oom_kill_from_memory_oom_control(tmp_path):
    root = v1_tree(tmp_path, oom_kill=1)
    reading, notes = CgroupProbe(root).read()
    assert (reading.oom_kills, notes) == (1, [])
    assert reading.oom_kills_file == os.path.join(root, V1_LEAF, "memory.oom_control")


def test_a_kernel_older_than_4_13_has_no_count_and_says_so_once(tmp_path):
    probe = CgroupProbe(v1_tree(tmp_path, oom_kill=None))
    reading, notes = probe.read()
    assert reading.oom_kills is None
    assert reading.limit == GiB  # the rest of the reading is unaffected
    assert len(notes) == 1 and "no oom_kill count" in notes[0] and "4.13" in notes[0]
    # A property of the machine, not news: later samples do not repeat it.
    for _ in range(3):
        reading, notes = probe.read()
        assert reading.oom_kills is None and notes == []
    # A new front end says hello (which reads the count): the sample after it says why.
    assert probe.oom_kills()[0] is None
    assert len(probe.read()[1]) == 1 and probe.read()[1] == []


def test_the_note_comes_back_after_the_count_was_readable_again(tmp_path):
    root = v2_tree(tmp_path, oom_kill=1)
    events = os.path.join(root, V2_LEAF, "memory.events")
    probe = CgroupProbe(root)
    os.rename(events, events + ".away")
    assert len(probe.read()[1]) == 1 and probe.read()[1] == []
    os.rename(events + ".away", events)
    assert probe.read()[0].oom_kills == 1
    os.remove(events)
    reading, notes = probe.read()
    assert reading.oom_kills is None and len(notes) == 1 and "missing" in notes[0]


def test_a_missing_memory_events_gives_none_and_a_note(tmp_path):
    root = v2_tree(tmp_path)
    os.remove(os.path.join(root, V2_LEAF, "memory.events"))
    reading, notes = CgroupProbe(root).read()
    assert reading.oom_kills is None and reading.limit == 2 * GiB  # the rest is unaffected
    assert len(notes) == 1 and "memory.events is missing" in notes[0]


def test_an_unreadable_memory_oom_control_gives_none_and_a_note(tmp_path):
    root = v1_tree(tmp_path)
    path = os.path.join(root, V1_LEAF, "memory.oom_control")
    os.remove(path)
    os.makedirs(path)  # reading a directory fails like an unreadable file does, even as root
    reading, notes = CgroupProbe(root).read()
    assert reading.oom_kills is None
    assert len(notes) == 1 and "could not be read" in notes[0] and "memory.oom_control" in notes[0]


def test_the_v2_root_cgroup_has_no_counter_and_no_complaint(tmp_path):
    root = write_tree(tmp_path, {"proc/self/cgroup": "0::/\n",
                                 "proc/self/mountinfo": V2_MOUNT.format(root="/",
                                                                        point="/sys/fs/cgroup"),
                                 **v2_dir("")})
    reading, notes = CgroupProbe(root).read()
    assert (reading.oom_kills, notes) == (None, [])


def test_no_cgroup_no_counter(tmp_path):
    assert CgroupProbe(str(tmp_path)).oom_kills() == (None, None)


def test_samples_carry_the_count(tmp_path):
    root = v2_tree(tmp_path, oom_kill=3)
    write_tree(tmp_path, {"proc/meminfo": "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n"})
    assert LimitProbe(root, environ={}).read()["oom_kills"] == 3


def test_this_machine_gives_a_count_or_none_from_the_right_file():
    probe = CgroupProbe()
    count, path = probe.oom_kills()
    assert count is None or (isinstance(count, int) and count >= 0)
    assert (path is None) == (probe.paths is None)
    if path is not None:
        expected = "memory.events" if probe.paths.version == 2 else "memory.oom_control"
        assert path == os.path.join(probe.paths.chain[0], expected)
