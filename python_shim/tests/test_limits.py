"""Which limit binds and what counts against it."""
from fs_trees import GiB, MiB, V1_MOUNT, v1_dir, write_tree
from oomguard.probes.cgroup import CgroupReading
from oomguard.probes.limits import LimitProbe, combine

HOST_TOTAL, HOST_AVAILABLE = 16 * GiB, 10 * GiB  # host used: 6 GiB


def cg(limit, usage=GiB, version=2):
    return CgroupReading(version, limit, usage, "/sys/fs/cgroup")


def pick(cgroup=None, mem_limit=None, setting=None, total=HOST_TOTAL, available=HOST_AVAILABLE):
    notes = []
    result = combine(cgroup, total, available, mem_limit, setting, notes)
    return result, notes


def test_cgroup_limit_wins_over_physical_memory():
    result, notes = pick(cg(2 * GiB, usage=GiB + 512 * MiB))
    assert (result["limit"], result["limit_source"]) == (2 * GiB, "cgroup v2")
    assert (result["used"], result["free"]) == (GiB + 512 * MiB, 512 * MiB)
    assert result["host_total"] == HOST_TOTAL and notes == []


def test_physical_memory_is_the_limit_only_without_a_cgroup_limit():
    for cgroup in (None, cg(None)):  # no cgroup at all; a cgroup without a limit
        result, notes = pick(cgroup)
        assert (result["limit"], result["limit_source"]) == (HOST_TOTAL, "physical")
        # the physical limit is shared by the whole machine: host used counts against it
        assert (result["used"], result["free"]) == (6 * GiB, 10 * GiB)
        assert notes == []


def test_a_cgroup_limit_above_physical_memory_is_kept_and_explained():
    result, notes = pick(cg(64 * GiB, version=1))
    assert (result["limit"], result["limit_source"]) == (64 * GiB, "cgroup v1")
    assert len(notes) == 1 and "more than this machine's memory" in notes[0]


def test_mem_limit_and_setting_apply_when_smaller():
    result, _ = pick(cg(8 * GiB), mem_limit=4 * GiB)
    assert (result["limit"], result["limit_source"], result["used"]) == (4 * GiB, "MEM_LIMIT", GiB)
    result, _ = pick(cg(8 * GiB), mem_limit=4 * GiB, setting=3 * GiB)
    assert (result["limit"], result["limit_source"]) == (3 * GiB, "setting")
    result, _ = pick(None, setting=3 * GiB)  # no cgroup: host used counts
    assert (result["limit_source"], result["used"], result["free"]) == ("setting", 6 * GiB, 0)
    result, _ = pick(cg(GiB), mem_limit=4 * GiB, setting=3 * GiB)
    assert result["limit_source"] == "cgroup v2"


def test_free_is_never_negative_and_unknowns_are_none_with_notes():
    result, _ = pick(cg(GiB, usage=2 * GiB))
    assert result["free"] == 0
    result, notes = pick(cg(GiB, usage=None))  # cgroup limit, usage unreadable: no host fallback
    assert (result["used"], result["free"]) == (None, None) and notes
    result, notes = pick(None, total=None, available=None)
    assert (result["limit"], result["limit_source"], result["free"]) == (None, "unknown", None)
    assert notes


def test_limit_probe_reads_mem_limit_from_the_environment(tmp_path):
    write_tree(tmp_path, {
        "proc/meminfo": f"MemTotal: {16 << 20} kB\nMemFree: 1 kB\nMemAvailable: {10 << 20} kB\n",
        "proc/self/cgroup": "4:memory:/\n", "proc/self/mountinfo": V1_MOUNT.format(root="/"),
        **v1_dir("", 8 * GiB, usage=GiB)})
    result = LimitProbe(str(tmp_path), {"MEM_LIMIT": str(2 * GiB)}).read()
    assert (result["limit"], result["limit_source"], result["free"]) == (2 * GiB, "MEM_LIMIT", GiB)
    result = LimitProbe(str(tmp_path), {"MEM_LIMIT": "2G"}).read(setting=4 * GiB)
    assert (result["limit"], result["limit_source"]) == (4 * GiB, "setting")
    assert any("MEM_LIMIT" in n for n in result["notes"])
    result = LimitProbe(str(tmp_path), {}).read()
    assert (result["limit"], result["limit_source"]) == (8 * GiB, "cgroup v1")
    assert result["host_total"] == 16 * GiB and result["host_available"] == 10 * GiB


def test_page_cache_is_said_only_where_the_cgroups_working_set_is_what_counts():
    reading = CgroupReading(1, 2 * GiB, 300 * MiB, "/sys/fs/cgroup/memory", page_cache=GiB)
    result, _notes = pick(reading)
    assert (result["free"], result["page_cache"]) == (2 * GiB - 300 * MiB, GiB)
    # The machine's figure (MemAvailable) already counts reclaimable cache as free.
    result, _notes = pick(CgroupReading(1, None, 300 * MiB, "/", page_cache=GiB))
    assert (result["limit_source"], result["page_cache"]) == ("physical", None)
