"""Fleet metrics for real: a Jupyter server with oomguard's server extension (enabled by
the installed config, as on any install), real kernels started through its REST API, a
real OOM kill, and Debian's Prometheus scraping its /metrics on loopback. Every figure is
asserted through Prometheus's HTTP query API (docs/fleet.md says what each series means).

The one stand-in: this machine has no GPU, so the server's PATH holds a fake
`nvidia-smi` (test_gpu.py's) that reports two, for the GPU series."""
import json
import os
import signal
import time

import pytest
from test_gpu import TWO_GPUS, FakeSmi
from test_grafana_dashboard import DASHBOARD

from fleet_harness import (CgroupUnavailable, JupyterServer, Prometheus, http, jupyter_job,
                           memory_cgroup, prometheus_binary, wait_until)

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(prometheus_binary() is None,
                       reason="Prometheus is not installed (apt-get install prometheus; "
                              "scripts/test.sh does it)"),
]

MiB = 1 << 20
RETENTION_S = 8  # OomguardMetrics.oom_kills_retention for this server
ENABLE = "import oomguard; oomguard.enable(summary='off', interval=0.25{})"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fleet")
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    FakeSmi(bin_dir).write(gpus=TWO_GPUS)  # GPU 0: 1024 MiB used, GPU 1: none
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    server = JupyterServer(workdir / "jupyter",
                           [f"--OomguardMetrics.oom_kills_retention={RETENTION_S}"], env)
    prometheus = None
    try:
        prometheus = Prometheus(workdir / "prometheus", [
            jupyter_job("jupyter", server, server.token),
            jupyter_job("jupyter-anonymous", server, None)])
        yield server, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        server.stop()


def series(prometheus, kernel_id, name="oomguard_.+"):
    """Every oomguard series of a kernel that Prometheus holds now (after staleness)."""
    return prometheus.query(f'{{__name__=~"{name}", kernel_id="{kernel_id}"}}')


def q(name, kernel, **labels):
    matchers = "".join(f',{key}="{value}"' for key, value in labels.items())
    return f'{name}{{job="jupyter",kernel_id="{kernel.id}"{matchers}}}'


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def test_enabled_on_install_and_metrics_honour_the_servers_auth(fleet):
    server, prometheus = fleet
    assert "oomguard: publishing kernel memory figures on /metrics" in server.log()
    status, _ = http(f"{server.url}/metrics")
    assert status == 403  # authenticate_prometheus is on by default
    status, body = http(f"{server.url}/metrics", server.token)
    assert status == 200 and b"# TYPE oomguard_kernel_rss_bytes gauge" in body
    # Prometheus with the token scrapes it; without, it cannot.
    prometheus.wait_for('up{job="jupyter"}', lambda v: v == 1, what="an authorised scrape")
    prometheus.wait_for('up{job="jupyter-anonymous"}', lambda v: v == 0,
                        what="an anonymous scrape to fail")


def test_a_kernel_holding_512_mib_and_its_shutdown(fleet):
    server, prometheus = fleet
    kernel = server.start_kernel()
    plain = server.start_kernel()  # never runs oomguard: no series at all
    try:
        kernel.run("import numpy as np")
        kernel.run(ENABLE.format(""))
        rss = q("oomguard_kernel_rss_bytes", kernel)
        before = prometheus.wait_for(rss, lambda v: v is not None, what="the kernel's RSS")
        assert kernel.run("big = np.ones(512 * 2**20 // 8)")["status"] == "ok"
        # The cell's record is written with the first reading after the cell (a reading
        # from while the array was being filled may be scraped before it).
        prometheus.wait_for(q("oomguard_kernel_cell_peak_bytes", kernel),
                            lambda v: v is not None and v > before + 400 * MiB,
                            what="the cell's peak")
        time.sleep(2)  # two scrapes
        held = prometheus.value(rss)
        actual = proc_rss(kernel.pid)
        assert abs(held - actual) <= 0.05 * actual, (held, actual)
        assert abs((held - before) - 512 * MiB) <= 0.05 * 512 * MiB, (held - before) / MiB
        # The cell's exact peak (VmHWM over the cell) holds the array too.
        peak = prometheus.value(q("oomguard_kernel_cell_peak_bytes", kernel))
        assert abs(peak - held) <= 0.05 * held, (peak, held)
        snapshot = kernel.evaluate("oomguard.snapshot()")
        [(labels, limit)] = prometheus.query(q("oomguard_kernel_limit_bytes", kernel))
        assert (labels["source"], limit) == (snapshot["limit_source"], snapshot["limit"])
        assert prometheus.value(q("oomguard_cells_total", kernel, status="ok")) == 1
        assert prometheus.value(q("oomguard_oom_kills_total", kernel)) == 0
        gpus = {labels["gpu"]: value
                for labels, value in prometheus.query(q("oomguard_gpu_used_bytes", kernel))}
        assert gpus == {"0": 1024 * MiB, "1": 0}
        assert series(prometheus, plain.id) == []
        # rss, limit, cell peak, 2 GPUs; cells by 4 statuses, interrupts, risky cells, OOM kills
        assert len(series(prometheus, kernel.id)) == 12
        print(f"\nPrometheus: rss {held / MiB:.1f} MiB (VmRSS {actual / MiB:.1f} MiB, "
              f"{held / MiB - before / MiB:.1f} MiB above {before / MiB:.1f} MiB); cell peak "
              f"{peak / MiB:.1f} MiB; limit {limit / MiB:.0f} MiB ({labels['source']})")
    finally:
        plain.shutdown()
        kernel.shutdown()
    wait_until(lambda: series(prometheus, kernel.id) == [], 30,
               "a shut-down kernel's series to go")
    assert not list(server.runtime_dir.glob(f"oomguard-state-kernel-{kernel.id}-*"))


def test_watchdog_stops_blocked_cells_and_a_crash_that_is_no_oom_kill(fleet):
    server, prometheus = fleet
    kernel = server.start_kernel()
    try:
        kernel.run("import numpy as np")
        kernel.run(ENABLE.format(", mode='off'"))
        rss = kernel.evaluate("oomguard.snapshot()['rss']")
        kernel.run(f"oomguard.enable(limit={rss + 256 * MiB}, watchdog=0.9)")
        grow = "chunks = []\nwhile True:\n    chunks.append(np.ones(2**20))\n"
        reply = kernel.run(grow)
        assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt")
        kernel.run("del chunks; oomguard.enable(limit=None, mode='block')")
        reply = kernel.run("x = np.ones((200_000, 200_000))")  # 298 GiB: blocked
        assert (reply["status"], reply["ename"]) == ("error", "InputRejected")
        prometheus.wait_for(q("oomguard_cells_total", kernel, status="blocked"),
                            lambda v: v == 1, what="the blocked cell (the last one)")
        assert prometheus.value(q("oomguard_watchdog_interrupts_total", kernel)) == 1
        counts = {status: prometheus.value(q("oomguard_cells_total", kernel, status=status))
                  for status in ("ok", "error", "blocked", "interrupted")}
        # ok: the two cells that set a limit and took it off again
        assert counts == {"ok": 2, "error": 0, "blocked": 1, "interrupted": 1}
        assert prometheus.value(q("oomguard_predicted_risky_cells_total", kernel)) == 1
        # Killed, not by the OOM killer: the server restarts it; the new process has no
        # oomguard yet, so no gauges, but the kernel's counts stay and no OOM kill counts.
        os.kill(kernel.pid, signal.SIGKILL)
        prometheus.wait_for(q("oomguard_kernel_rss_bytes", kernel), lambda v: v is None,
                            what="the killed process's RSS to go")
        time.sleep(2)
        assert prometheus.value(q("oomguard_watchdog_interrupts_total", kernel)) == 1
        assert prometheus.value(q("oomguard_cells_total", kernel, status="blocked")) == 1
        assert prometheus.value(q("oomguard_oom_kills_total", kernel)) == 0
    finally:
        kernel.shutdown()
    wait_until(lambda: series(prometheus, kernel.id) == [], 30,
               "a shut-down kernel's series to go")


@pytest.fixture
def limited_cgroup():
    try:
        with memory_cgroup(256 * MiB) as path:
            yield path
    except CgroupUnavailable as why:
        pytest.skip(f"no real OOM killer to meet: {why}")


def test_an_oom_kill_counts_once_a_restart_keeps_the_counts_a_shutdown_drops_them(
        fleet, limited_cgroup):
    server, prometheus = fleet
    kernel = server.start_kernel()
    try:
        # Into the limited cgroup before oomguard finds its cgroup (at its first reading).
        (limited_cgroup / "cgroup.procs").write_text(str(kernel.pid))
        kernel.run(ENABLE.format(", mode='off', watchdog=False"))
        kernel.run("a = 1")
        kernel.run("b = 2")
        prometheus.wait_for(q("oomguard_cells_total", kernel, status="ok"), lambda v: v == 2,
                            what="two cells")
        [(labels, limit)] = prometheus.query(q("oomguard_kernel_limit_bytes", kernel))
        assert (labels["source"], limit) == ("cgroup v1", 256 * MiB)
        kernel.send("hog = b'\\x01' * (1 << 30)")  # the kernel's OOM killer ends it
        prometheus.wait_for(q("oomguard_oom_kills_total", kernel), lambda v: v == 1,
                            timeout=60, what="the OOM kill")
        oom_control = (limited_cgroup / "memory.oom_control").read_text()
        assert "oom_kill 1" in oom_control, oom_control
        # The server restarts it (same kernel id); its new process has no oomguard yet:
        # no gauges, and the counts of the process that died stay.
        assert prometheus.value(q("oomguard_kernel_rss_bytes", kernel)) is None
        assert prometheus.value(q("oomguard_cells_total", kernel, status="ok")) == 2
        kernel.client.stop_channels()
        kernel.connect()  # waits for the restarted process to answer
        assert kernel.pid not in _pids(limited_cgroup)
        kernel.run(ENABLE.format(""))
        kernel.run("c = 3")
        prometheus.wait_for(q("oomguard_cells_total", kernel, status="ok"), lambda v: v == 3,
                            what="the new process's cell added to the old ones")
        assert prometheus.value(q("oomguard_kernel_rss_bytes", kernel)) > 0
        assert prometheus.value(q("oomguard_oom_kills_total", kernel)) == 1
    finally:
        kernel.shutdown()
    # Shut down: its series go at once, but for the OOM-kill count, kept a while.
    wait_until(lambda: [labels["__name__"] for labels, _ in series(prometheus, kernel.id)]
               == ["oomguard_oom_kills_total"], 10, "only the OOM-kill count to stay")
    assert prometheus.value(q("oomguard_oom_kills_total", kernel)) == 1
    wait_until(lambda: series(prometheus, kernel.id) == [], RETENTION_S + 20,
               "the OOM-kill count to go after its retention")


def _pids(cgroup):
    return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]


# What Grafana puts in place of the dashboard's variables before it asks Prometheus.
GRAFANA_VARIABLES = {"$instance": ".*", "$__rate_interval": "1m", "$__range": "10m"}


def test_every_dashboard_query_runs_on_prometheus(fleet):
    server, prometheus = fleet
    kernel = server.start_kernel()
    try:
        kernel.run(ENABLE.format(""))
        prometheus.wait_for(q("oomguard_kernel_rss_bytes", kernel), lambda v: v is not None,
                            what="the kernel's RSS")
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found = prometheus.query(expr)  # asserts Prometheus took it
                if panel["title"] == "Kernels nearest their limit":
                    mine = [value for labels, value in found if labels["kernel_id"] == kernel.id]
                    rss = prometheus.value(q("oomguard_kernel_rss_bytes", kernel))
                    [(_, limit)] = prometheus.query(q("oomguard_kernel_limit_bytes", kernel))
                    assert mine and abs(mine[0] - rss / limit) < 0.01 * rss / limit
                if panel["title"] == "Kernels with oomguard":
                    assert found and found[0][1] >= 1
    finally:
        kernel.shutdown()
