"""cgroup discovery and readings on fixture trees (fake /proc/self and /sys/fs/cgroup)."""
import os

import pytest

from fs_trees import (CPU_MOUNT, GiB, MiB, V1_MOUNT, V1_UNLIMITED, V2_MOUNT, v1_dir, v2_dir,
                      write_tree)
from oomguard.probes.cgroup import CgroupProbe, parse_mountinfo, parse_proc_cgroup


def read(root):
    return CgroupProbe(str(root)).read()


def proc_files(cgroup, mountinfo):
    return {"proc/self/cgroup": cgroup, "proc/self/mountinfo": mountinfo}


def test_parsers_handle_optional_fields_and_escapes():
    mounts = parse_mountinfo(
        "1 0 0:1 / / rw - ext4 /dev/root rw\n"
        "35 31 0:32 /docker/a\\040b /sys/fs/cgroup/my\\040mem rw shared:9 master:2 - cgroup "
        "cgroup rw,memory\n")
    assert len(mounts) == 1
    assert mounts[0].root == "/docker/a b" and mounts[0].mount_point == "/sys/fs/cgroup/my mem"
    assert "memory" in mounts[0].options
    assert parse_proc_cgroup("4:memory:/a:b\n0::/\n2:cpu,cpuacct:/x\n") == [
        ("4", ["memory"], "/a:b"), ("0", [], "/"), ("2", ["cpu", "cpuacct"], "/x")]


def test_v1_flat(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/\n", CPU_MOUNT + V1_MOUNT.format(root="/")),
                          **v1_dir("", 2 * GiB, usage=GiB, inactive=100 * MiB)})
    reading, notes = read(tmp_path)
    assert (reading.source, reading.limit, reading.usage) == ("cgroup v1", 2 * GiB, GiB - 100 * MiB)
    assert reading.page_cache == 100 * MiB  # left out of the working set: free once reclaimed
    assert notes == []


def test_v1_nested_respects_the_mount_root(tmp_path):
    # Docker without cgroup namespaces: the mount shows /docker/abc at the mount point.
    write_tree(tmp_path, {
        **proc_files("4:memory:/docker/abc/jupyter/kernel\n", V1_MOUNT.format(root="/docker/abc")),
        **v1_dir("", 8 * GiB, usage=3 * GiB),
        **v1_dir("/jupyter", GiB, usage=700 * MiB, inactive=50 * MiB),
        **v1_dir("/jupyter/kernel", V1_UNLIMITED, usage=500 * MiB)})
    reading, notes = read(tmp_path)
    assert reading.limit == GiB  # the parent's limit binds
    assert reading.usage == 650 * MiB  # read where the binding limit is set
    assert reading.directory.endswith("sys/fs/cgroup/memory/jupyter")
    assert notes == []


def test_v1_hierarchical_limit_smaller_than_the_leaf(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/\n", V1_MOUNT.format(root="/docker/abc")),
                          **v1_dir("", V1_UNLIMITED, usage=300 * MiB, hierarchical=512 * MiB)})
    reading, _ = read(tmp_path)
    assert (reading.limit, reading.usage) == (512 * MiB, 300 * MiB)


def test_v1_unlimited(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/k\n", V1_MOUNT.format(root="/")),
                          **v1_dir("", V1_UNLIMITED),
                          **v1_dir("/k", V1_UNLIMITED, usage=10 * MiB)})
    reading, notes = read(tmp_path)
    assert (reading.limit, reading.usage, notes) == (None, 10 * MiB, [])


def test_v1_cgroup_outside_the_mount_falls_back_to_the_mount_point_with_a_note(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/elsewhere\n", V1_MOUNT.format(root="/docker/abc")),
                          **v1_dir("", GiB, usage=MiB)})
    reading, notes = read(tmp_path)
    assert reading.limit == GiB
    assert len(notes) == 1 and "outside" in notes[0]


def test_v2_flat(tmp_path):
    write_tree(tmp_path, {
        **proc_files("0::/\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir("", memory_max=4 * GiB, current=GiB, inactive=200 * MiB)})
    reading, notes = read(tmp_path)
    assert (reading.source, reading.limit, reading.usage) == ("cgroup v2", 4 * GiB, GiB - 200 * MiB)
    assert reading.page_cache == 200 * MiB
    assert notes == []


def test_v2_nested_parent_limit_is_smaller(tmp_path):
    write_tree(tmp_path, {
        **proc_files("0::/user.slice/session.scope\n",
                     V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir(""),  # the root cgroup has no memory.max / memory.current
        **v2_dir("/user.slice", memory_max=2 * GiB, current=GiB),
        **v2_dir("/user.slice/session.scope", memory_max=3 * GiB, current=400 * MiB)})
    reading, notes = read(tmp_path)
    assert (reading.limit, reading.usage, notes) == (2 * GiB, GiB, [])


def test_v2_max_means_unlimited(tmp_path):
    write_tree(tmp_path, {
        **proc_files("0::/a\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir(""), **v2_dir("/a", memory_max="max", current=5 * MiB)})
    reading, notes = read(tmp_path)
    assert (reading.limit, reading.usage, notes) == (None, 5 * MiB, [])


def test_v2_in_the_root_cgroup_has_no_limit_and_no_complaint(tmp_path):
    write_tree(tmp_path, {**proc_files("0::/\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
                          **v2_dir("")})
    reading, notes = read(tmp_path)
    assert (reading.version, reading.limit, reading.usage, notes) == (2, None, None, [])


def test_unreadable_limit_gives_none_and_a_note(tmp_path):
    # A directory where a file should be: unreadable even for root, like EACCES would be.
    write_tree(tmp_path, {
        **proc_files("0::/a\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir(""), **v2_dir("/a", current=5 * MiB), "sys/fs/cgroup/a/memory.max": None})
    reading, notes = read(tmp_path)
    assert reading.limit is None
    assert any("memory.max" in n for n in notes)


def test_missing_limit_and_usage_files_give_none_and_notes(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/\n", V1_MOUNT.format(root="/")),
                          "sys/fs/cgroup/memory/tasks": ""})
    reading, notes = read(tmp_path)
    assert (reading.limit, reading.usage) == (None, None)
    assert any("limit" in n for n in notes) and any("usage_in_bytes" in n for n in notes)


def test_missing_proc_files(tmp_path):
    assert read(tmp_path) == (None, [])  # no cgroups at all (not Linux): nothing to say
    write_tree(tmp_path, {"proc/self/cgroup": "4:memory:/\n"})
    reading, notes = read(tmp_path)
    assert reading is None and len(notes) == 1 and "mountinfo" in notes[0]


def test_hybrid_v1_memory_with_a_controllerless_unified_tree(tmp_path):
    # Like this machine: memory on v1, a cgroup2 mount at .../unified without "memory".
    write_tree(tmp_path, {
        **proc_files("4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
                     CPU_MOUNT + V1_MOUNT.format(root="/")
                     + V2_MOUNT.format(root="/", point="/sys/fs/cgroup/unified")),
        "sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n",
        **v1_dir("", V1_UNLIMITED), **v1_dir("/process_api", 3 * GiB, usage=2 * GiB),
        **v1_dir("/process_api/abc", V1_UNLIMITED, usage=GiB)})
    reading, notes = read(tmp_path)
    assert (reading.source, reading.limit, reading.usage, notes) == \
        ("cgroup v1", 3 * GiB, 2 * GiB, [])


def test_v2_without_memory_controller_and_no_v1_says_so(tmp_path):
    write_tree(tmp_path, {
        **proc_files("0::/a\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        "sys/fs/cgroup/a/cgroup.controllers": "cpu pids\n"})
    reading, notes = read(tmp_path)
    assert reading is None and "controller" in notes[0]


def test_usage_is_reread_each_time_limits_after_a_while_paths_never(tmp_path):
    write_tree(tmp_path, {**proc_files("4:memory:/\n", V1_MOUNT.format(root="/")),
                          **v2_free_v1_dir(2 * GiB, usage=GiB)})
    probe = CgroupProbe(str(tmp_path))
    assert probe.read()[0].limit == 2 * GiB
    write_tree(tmp_path, v2_free_v1_dir(GiB, usage=GiB // 2))
    os.remove(os.path.join(tmp_path, "proc/self/mountinfo"))  # discovery is not repeated
    reading = probe.read()[0]
    assert reading.usage == GiB // 2            # usage: every read
    assert reading.limit == 2 * GiB             # the limit: cached for LIMIT_TTL
    probe.LIMIT_TTL = 0
    assert probe.read()[0].limit == GiB


def v2_free_v1_dir(limit, usage):
    """A v1 memory cgroup whose memory.stat carries no hierarchical limit, so only
    memory.limit_in_bytes says what the limit is."""
    files = v1_dir("", limit, usage=usage)
    return {path: ("total_inactive_file 0\n" if path.endswith("memory.stat") else text)
            for path, text in files.items()}


def test_this_machine_does_not_crash():
    reading, notes = CgroupProbe().read()
    assert isinstance(notes, list)
    if reading is not None:
        assert reading.limit is None or reading.limit > 0


# --- Kubernetes: memory.oom.group (cgroup v2) ---------------------------------------------
POD = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice"
CONTAINER = POD + "/cri-containerd-3c4d.scope"


def test_a_kubernetes_container_with_its_own_cgroup_namespace_is_one_oom_group(tmp_path):
    # Kubernetes 1.28+ on cgroup v2: the container's cgroup (mounted as the root of its
    # namespace) has memory.oom.group = 1.
    write_tree(tmp_path, {**proc_files("0::/\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
                          **v2_dir("", memory_max=4 * GiB, current=GiB, oom_group=1)})
    probe = CgroupProbe(str(tmp_path))
    assert probe.oom_group() == (True, os.path.join(str(tmp_path), "sys/fs/cgroup/memory.oom.group"))
    assert probe.read()[0].limit == 4 * GiB  # the rest reads as before


def test_the_outermost_grouped_cgroup_is_the_one_said(tmp_path):
    # No cgroup namespace: the whole tree is visible. The pod's slice has it at 0, the
    # container's scope at 1; a kernel moved into a child cgroup of the container is
    # still killed with the container.
    write_tree(tmp_path, {
        **proc_files(f"0::{CONTAINER}/kernel-1\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir(""),
        **v2_dir(POD, memory_max=8 * GiB, current=GiB, oom_group=0),
        **v2_dir(CONTAINER, memory_max=4 * GiB, current=GiB, oom_group=1),
        **v2_dir(CONTAINER + "/kernel-1", memory_max="max", current=GiB, oom_group=0)})
    grouped, where = CgroupProbe(str(tmp_path)).oom_group()
    assert grouped is True
    assert where == os.path.join(str(tmp_path), "sys/fs/cgroup" + CONTAINER, "memory.oom.group")


def test_no_oom_group_is_false_and_unknown_is_none(tmp_path):
    mount = V2_MOUNT.format(root="/", point="/sys/fs/cgroup")
    off = tmp_path / "off"
    write_tree(off, {**proc_files("0::/a\n", mount), **v2_dir(""),
                     **v2_dir("/a", memory_max=GiB, current=MiB, oom_group=0)})
    assert CgroupProbe(str(off)).oom_group() == \
        (False, os.path.join(str(off), "sys/fs/cgroup/a/memory.oom.group"))
    old = tmp_path / "old"  # a kernel before 4.19: no such file
    write_tree(old, {**proc_files("0::/a\n", mount), **v2_dir(""),
                     **v2_dir("/a", memory_max=GiB, current=MiB)})
    assert CgroupProbe(str(old)).oom_group() == (None, None)
    v1 = tmp_path / "v1"  # cgroup v1 has no group kill
    write_tree(v1, {**proc_files("4:memory:/\n", V1_MOUNT.format(root="/")),
                    **v1_dir("", 2 * GiB, usage=GiB)})
    assert CgroupProbe(str(v1)).oom_group() == (None, None)
    assert CgroupProbe(str(tmp_path / "nothing")).oom_group() == (None, None)


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_kernel_in_an_oom_group_says_so_in_hello_and_in_the_text_mode(tmp_path):
    # A real kernel whose cgroup probe reads a Kubernetes container's tree.
    from kernel_session import KernelSession
    tree = write_tree(tmp_path / "tree", {
        **proc_files("0::/\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
        **v2_dir("", memory_max=4 * GiB, current=GiB, oom_group=1)})
    session = KernelSession(tmp_path / "spec")
    try:
        session.execute(
            "import oomguard\n"
            "from oomguard.probes.cgroup import CgroupProbe\n"
            f"oomguard._runtime.readings.limits.cgroup = CgroupProbe({tree!r})\n", silent=True)
        _, messages = session.run("oomguard.enable()")  # the text mode: said once
        said = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
        assert said.count("memory.oom.group = 1") == 1
        _, messages = session.run("oomguard.enable()")
        assert "oom.group" not in "".join(
            m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        comm = session.open_comm({"v": 1, "type": "open", "client": "pytest"})
        hello = session.wait_comm(comm, kind="hello")[0]
        assert hello["oom_group"] is True
        assert hello["oom_group_file"] == os.path.join(tree, "sys/fs/cgroup/memory.oom.group")
        _, messages = session.run("%oomguard")
        text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
        assert "one OOM kill ends this whole container" in text
    finally:
        session.shutdown()


def test_the_high_water_mark_is_read_for_a_post_mortem(tmp_path):
    v1 = tmp_path / "v1"
    write_tree(v1, {**proc_files("4:memory:/\n", V1_MOUNT.format(root="/")),
                    **v1_dir("", 2 * GiB, usage=GiB),
                    "sys/fs/cgroup/memory/memory.max_usage_in_bytes": str(2 * GiB)})
    assert CgroupProbe(str(v1)).high_water() == (
        2 * GiB, str(v1 / "sys/fs/cgroup/memory/memory.max_usage_in_bytes"))
    v2 = tmp_path / "v2"
    write_tree(v2, {**proc_files("0::/\n", V2_MOUNT.format(root="/", point="/sys/fs/cgroup")),
                    **v2_dir("", memory_max=4 * GiB, current=GiB),
                    "sys/fs/cgroup/memory.peak": str(3 * GiB)})
    assert CgroupProbe(str(v2)).high_water() == (3 * GiB, str(v2 / "sys/fs/cgroup/memory.peak"))
    # Before Linux 5.19 v2 has no memory.peak: not measured.
    os.remove(v2 / "sys/fs/cgroup/memory.peak")
    assert CgroupProbe(str(v2)).high_water() == (None, None)
