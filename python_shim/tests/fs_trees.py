"""Fixture file trees: fake /proc and /sys/fs/cgroup under a temporary root."""
import os

V1_MOUNT = "35 31 0:32 {root} /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
V2_MOUNT = "41 31 0:38 {root} {point} rw,relatime - cgroup2 cgroup2 rw\n"
CPU_MOUNT = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
GiB = 1 << 30
MiB = 1 << 20
V1_UNLIMITED = "9223372036854771712"


def write_tree(root, files):
    """files: {relative path: text}; a value of None makes a directory (unreadable as a file)."""
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        if text is None:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


def v1_dir(rel, limit, usage=None, inactive=0, hierarchical=None, oom_kill=0):
    """oom_kill: the count in memory.oom_control; None writes the file of a kernel older
    than 4.13, which has no such line."""
    base = "sys/fs/cgroup/memory" + rel
    files = {f"{base}/memory.limit_in_bytes": str(limit),
             f"{base}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"
             + ("" if oom_kill is None else f"oom_kill {oom_kill}\n")}
    if usage is not None:
        files[f"{base}/memory.usage_in_bytes"] = str(usage)
        stat = f"cache 0\ninactive_file {inactive}\ntotal_inactive_file {inactive}\n"
        stat += f"hierarchical_memory_limit {hierarchical or V1_UNLIMITED}\n"
        files[f"{base}/memory.stat"] = stat
    return files


def v2_dir(rel, memory_max=None, current=None, inactive=0, point="sys/fs/cgroup", oom_kill=0,
           oom_group=None):
    """A non-root cgroup (with memory.max or memory.current) also gets memory.events;
    oom_group: memory.oom.group's value (0 or 1; the kubelet writes 1 on containers'
    cgroups since Kubernetes 1.28), None for no such file (Linux < 4.19, the root)."""
    base = point + rel
    files = {f"{base}/cgroup.controllers": "cpuset cpu io memory pids\n"}
    if oom_group is not None:
        files[f"{base}/memory.oom.group"] = f"{oom_group}\n"
    if memory_max is not None or current is not None:
        files[f"{base}/memory.events"] = (f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom_kill}\n"
                                          "oom_group_kill 0\n")
    if memory_max is not None:
        files[f"{base}/memory.max"] = str(memory_max)
    if current is not None:
        files[f"{base}/memory.current"] = str(current)
        files[f"{base}/memory.stat"] = f"anon 1\nfile 2\ninactive_file {inactive}\nactive_file 3\n"
    return files
