"""End to end in a real ipykernel: load the extension, open the comm, read samples."""
import time

import pytest
from kernel_session import KernelSession

MiB = 1 << 20
OPEN = {"v": 1, "type": "open", "client": "pytest"}
THREADS = "[t.name for t in __import__('threading').enumerate()]"

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    session = KernelSession(tmp_path_factory.mktemp("kernel"))
    try:
        session.execute("%load_ext oomguard\nimport oomguard\noomguard.enable(interval=0.2)")
        yield session
    finally:
        session.shutdown()


@pytest.fixture(scope="module")
def comm(kernel):
    comm_id = kernel.open_comm(OPEN)
    kernel.wait_comm(comm_id, "sample")
    return comm_id


def test_hello_then_sample_on_open(kernel):
    since = kernel.mark()
    comm_id = kernel.open_comm(OPEN)
    first, second = kernel.wait_comm(comm_id, since=since, count=2)[:2]  # more may be in
    assert first["type"] == "hello" and first["v"] == 1
    assert first["pid"] == kernel.km.provisioner.pid == kernel.evaluate("__import__('os').getpid()")
    assert first["interval"] == pytest.approx(0.2)
    assert first["peak_method"] in ("hwm", "sampled")
    assert second["type"] == "sample"
    assert second["rss"] > 10 * MiB and second["limit"] > 0 and second["free"] >= 0
    assert isinstance(second["notes"], list)


def test_samples_arrive_while_a_cell_runs(kernel, comm):
    since = kernel.mark()
    started = time.time()
    kernel.execute("import time; time.sleep(3)")
    finished = time.time()
    during = [data for _, data in kernel.comm_messages(comm, since, "sample")
              if started < data["t"] < finished]
    assert len(during) >= 10


def refresh(kernel, comm_id):
    since = kernel.mark()
    kernel.comm_send(comm_id, {"v": 1, "type": "refresh"})
    return kernel.wait_comm(comm_id, "sample", since=since)[0]


def test_a_big_allocation_shows_in_rss(kernel, comm):
    before = refresh(kernel, comm)["rss"]
    kernel.execute("x = b'\\x01' * (512 << 20)")  # bytes * n writes every page
    try:
        after = refresh(kernel, comm)["rss"]
        assert after - before >= 0.9 * 512 * MiB
    finally:
        kernel.execute("del x")


def test_settings_change_the_interval_and_refresh_answers_at_once(kernel, comm):
    since = kernel.mark()
    kernel.comm_send(comm, {"v": 1, "type": "settings", "interval": 0.5})
    assert kernel.wait_comm(comm, "hello", since=since)[0]["interval"] == 0.5
    since = kernel.mark()
    time.sleep(2.2)
    times = [data["t"] for _, data in kernel.comm_messages(comm, since, "sample")]
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    assert 3 <= len(times) <= 6 and 0.4 < gaps[len(gaps) // 2] < 0.7, gaps  # median: 0.5

    since = kernel.mark()
    kernel.comm_send(comm, {"v": 1, "type": "settings", "interval": 1000})
    assert kernel.wait_comm(comm, "hello", since=since)[0]["interval"] == 60  # clamped
    time.sleep(0.3)  # let the sample taken on the interval change go by
    since = kernel.mark()
    asked = time.time()
    kernel.comm_send(comm, {"v": 1, "type": "refresh"})
    kernel.wait_comm(comm, "sample", since=since, timeout=2)
    assert time.time() - asked < 1.0

    since = kernel.mark()
    kernel.comm_send(comm, {"v": 1, "type": "settings", "interval": 0.01})
    assert kernel.wait_comm(comm, "hello", since=since)[0]["interval"] == 0.1
    kernel.execute("oomguard.enable(interval=0.2)")


def test_malformed_and_other_version_messages_are_dropped(kernel, comm):
    kernel.execute("oomguard.enable(interval=60)")
    time.sleep(0.3)
    since = kernel.mark()
    for bad in ("garbage", [1, 2], {}, {"v": 1, "type": "nope"}, {"type": "refresh"},
                {"v": 2, "type": "refresh"}, {"v": 2, "type": "settings", "interval": 0.1},
                {"v": 1, "type": "settings", "interval": "fast"}):
        kernel.comm_send(comm, bad)
    assert kernel.evaluate("1 + 1") == 2  # the kernel keeps working (and handled all of them)
    time.sleep(0.3)
    assert kernel.comm_messages(comm, since) == []  # no answers, no error spam
    refresh(kernel, comm)  # and the comm still works

    since = kernel.mark()
    rejected = kernel.open_comm({"v": 2, "type": "open", "client": "future"})
    error = kernel.wait_comm(rejected, "error", since=since)[0]
    assert "v1" in error["message"]
    kernel.wait_comm(rejected, since=since, msg_type="comm_close")
    kernel.execute("oomguard.enable(interval=0.2)")


def test_snapshot_has_the_sample_fields(kernel):
    snap = kernel.evaluate("{k: type(v).__name__ for k, v in oomguard.snapshot().items()}")
    assert snap["rss"] == "int" and snap["t"] == "float" and snap["notes"] == "list"
    assert set(snap) == {"t", "rss", "children_rss", "limit", "limit_source", "used", "free",
                         "host_total", "host_available", "notes", "gpus", "running_cell",
                         "oom_kills"}
    assert snap["running_cell"] == "NoneType"  # a silent execute is not a cell


def test_loading_twice_keeps_one_sampler_and_disable_stops_it(tmp_path):
    session = KernelSession(tmp_path)
    try:
        session.execute("%load_ext oomguard\n%load_ext oomguard\nimport oomguard\n"
                        "oomguard.enable()\noomguard.enable(interval=0.5)\n%reload_ext oomguard")
        assert session.evaluate(THREADS).count("oomguard-sampler") == 1
        comm_id = session.open_comm(OPEN)
        session.wait_comm(comm_id, "hello")

        since = session.mark()
        session.execute("oomguard.disable()")
        session.wait_comm(comm_id, since=since, msg_type="comm_close")  # open comms closed
        assert "oomguard-sampler" not in session.evaluate(THREADS)
        since = session.mark()
        refused = session.open_comm(OPEN)  # target unregistered: ipykernel closes it
        session.wait_comm(refused, since=since, msg_type="comm_close")

        session.execute("oomguard.enable()")
        assert session.evaluate(THREADS).count("oomguard-sampler") == 1
        comm_id = session.open_comm(OPEN)
        session.wait_comm(comm_id, "sample")
    finally:
        session.shutdown()
