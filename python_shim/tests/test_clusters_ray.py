"""Ray: a cell whose task Ray's memory monitor kills gets a record naming the task and the
node's memory. The messages of older Ray versions are read too (each with its source).

The kernel test starts a real local Ray (skipped where ray is not installed; the test
extra brings it) with its kill threshold set 1 GiB above the machine's use at that
moment, and a task that allocates 3 GiB."""
import shutil
import tempfile

import pytest

from oomguard.clusters import ray_engine

GiB = 1 << 30

# Observed here with ray 2.60.0 (ray.exceptions.OutOfMemoryError's message, cut after
# the parts we read; the object-store statistics between them are left out).
RAY_2_60 = (
    "1 worker(s) were killed due to the node running low on memory. Memory on the node "
    "(IP: 192.0.2.2, ID: d07fbd1a9602250d675287ae679f08d47bcb6cac437c659a69dafbab) was "
    "4.11GB used / 23.54GB limit (0.174632)\nOOM kill reason: Memory usage 4248911872B "
    "exceeded threshold of 3791477248B (15.0% of 25276514304B limit)\n"
    "Object store memory usage: [- objects spillable: 0\n]\n"
    "Ray killed 1 worker(s) based on the killing policy\nConsidered workers: [\n"
    "Selected to kill: (Task: job ID=01000000, lease ID=0000000001000000ffffffffffffffffff"
    "ffffffffffffffffffffffffffffff, task name=hog, required resources={CPU: 1}, pid=4427, "
    "actual memory used=5.44GB, worker ID=0b2a6a721034b6131cc00a24c2bb96f76cb4a3006d627efa"
    "72865033)\n]\n")
# ray-project/ray pull request #30312 (2022, Ray 2.2-2.50's wording), as its
# description quotes it.
RAY_2_2 = (
    "Task was killed due to the node running low on memory.\nMemory on the node (IP: "
    "172.17.0.2, ID: 8c5a1410013588601db2a6344fa1e07476f4378155083682818ebb94) where the "
    "task (task ID: 41617bc740ae9ca27726b37f8578c02f4cf1698d01000000, name=allocate_memory, "
    "pid=548, memory used=12.18GB) was running was 21.91GB / 33.28GB (0.658192), which "
    "exceeds the memory usage threshold of 0.65. Ray killed this worker (ID: "
    "0f7695fad1848c8703eb36240efa3a80cb82ea43206919f4) because it was the most recently "
    "scheduled task")


class OutOfMemoryError(Exception):
    """Stands in for ray.exceptions.OutOfMemoryError (same constructor, same dict)."""

    def __init__(self, message):
        self.message = message


def test_the_messages_of_ray_2_60_and_2_2_are_read(monkeypatch):
    monkeypatch.setattr(ray_engine, "module_attr",
                        lambda module, name: OutOfMemoryError
                        if (module, name) == ("ray.exceptions", "OutOfMemoryError") else None)
    new = ray_engine.cell_error(OutOfMemoryError(RAY_2_60))
    assert new.worker == "ray worker 0b2a6a721034 (pid 4427) on node 192.0.2.2"
    assert new.task == "hog" and new.rss == int(5.44 * GiB)
    assert new.reason == ("Ray's memory monitor killed it: the node's memory, 3.96 GiB "
                          "used of 23.54 GiB, passed its kill threshold of 3.53 GiB (15.0%, "
                          "RAY_memory_usage_threshold)")
    assert new.to_dict()["node_used"] == 4248911872
    assert new.to_dict()["node_total"] == 25276514304
    old = ray_engine.cell_error(OutOfMemoryError(RAY_2_2))
    assert old.task == "allocate_memory" and old.rss == int(12.18 * GiB)
    assert old.worker == "ray worker 0f7695fad184 (pid 548) on node 172.17.0.2"
    assert "21.91 GB used of 33.28 GB, passed the threshold of 0.65" in old.reason
    assert ray_engine.cell_error(OutOfMemoryError("")).reason == \
        "Ray's memory monitor killed it: the node ran low on memory"
    assert ray_engine.cell_error(ValueError(RAY_2_60)) is None


@pytest.mark.kernel
def test_a_task_killed_by_rays_memory_monitor_is_named(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (the test extra has it)")
    psutil = pytest.importorskip("psutil", reason="psutil (a dependency of ray) is missing")
    from cluster_kernel import oomguard_kernel

    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths
    try:
        with oomguard_kernel(tmp_path) as kernel:
            memory = psutil.virtual_memory()
            threshold = (memory.total - memory.available + GiB) / memory.total
            reply, _ = kernel.run(
                f"os.environ['RAY_memory_usage_threshold'] = '{threshold:.4f}'\n"
                "import ray\n"
                f"ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,\n"
                f"         object_store_memory=100 * 2**20, _temp_dir={temp!r})\n"
                "@ray.remote(max_retries=0)\n"
                "def hog():\n"
                "    block = bytearray(3 * 2**30)\n"
                "    for i in range(0, len(block), 4096):\n"
                "        block[i] = 1\n"
                "    time.sleep(30)\n", timeout=120)
            assert reply["status"] == "ok", reply
            try:
                reply, _ = kernel.run("ray.get(hog.remote())", timeout=120)
                assert reply["status"] == "error", reply
                assert reply["ename"] == "OutOfMemoryError", reply
                cluster = kernel.evaluate("oomguard.cells()[-1].to_dict()")["cluster"]
            finally:
                kernel.run("ray.shutdown()", timeout=60)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    print("ray record:", cluster)
    assert cluster["engine"] == "ray"
    (killed,) = cluster["lost"]
    assert killed["task"] == "hog"
    assert killed["reason"].startswith("Ray's memory monitor killed it: the node's memory")
    assert killed["node_used"] > killed["node_threshold"]
    assert killed["node_threshold"] < killed["node_total"] <= memory.total * 1.01
    # Ray kills it as soon as the node passes the threshold: how far it got depends on
    # what else the machine holds by then.
    assert 0 < killed["rss"] <= 3.2 * GiB
    assert any("OutOfMemoryError" in note and "hog" in note for note in cluster["notes"])
    assert any("not sampled" in note for note in cluster["notes"])
