"""docs/images/fleet-prometheus.png: Prometheus's own graph page with oomguard's series
from a real Jupyter server (docs/fleet.md).

    .venv/bin/python scripts/fleet_screenshot.py     # about four minutes

Three real kernels for a few minutes: one that takes memory step by step, one whose
growing cell the watchdog stops (twice), and one that the kernel's OOM killer ends in a
limited memory cgroup (where one can be made: cgroup v1, as root) and that the server
restarts. Then headless Chromium takes the graph page of `oomguard_kernel_rss_bytes`."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python_shim" / "tests"))

from fleet_harness import (CgroupUnavailable, JupyterServer, Prometheus, jupyter_job,  # noqa: E402
                           memory_cgroup)

OUT = ROOT / "docs" / "images" / "fleet-prometheus.png"
MiB = 1 << 20
ENABLE = "import numpy as np, oomguard; oomguard.enable(summary='off', mode='off'{})"
GROW = "chunks = []\nwhile True:\n    chunks.append(np.ones(2**20))\n"


def stepper(kernel):
    kernel.run(ENABLE.format(""))
    for step in range(1, 7):
        time.sleep(20)
        kernel.run(f"held_{step} = np.ones({128 * MiB // 8})")


def interrupted(kernel):
    kernel.run(ENABLE.format(""))
    rss = kernel.evaluate("oomguard.snapshot()['rss']")
    kernel.run(f"oomguard.enable(limit={rss + 600 * MiB}, watchdog=0.9)")
    for _ in range(2):
        time.sleep(40)
        kernel.run(GROW)
        # glibc keeps the freed heap after the first time: hand it back, for the picture.
        kernel.run("del chunks; __import__('ctypes').CDLL(None).malloc_trim(0)")


def oom_killed(kernel, cgroup):
    (cgroup / "cgroup.procs").write_text(str(kernel.pid))
    kernel.run(ENABLE.format(", watchdog=False"))
    time.sleep(60)
    kernel.run("small = np.ones(100 * 2**20 // 8)")
    time.sleep(30)
    kernel.send("hog = b'\\x01' * (1 << 30)")
    time.sleep(15)
    kernel.client.stop_channels()
    kernel.connect()  # the server restarted it
    kernel.run(ENABLE.format(""))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="oomguard-shot-") as workdir:
        work = Path(workdir)
        server = JupyterServer(work / "jupyter")
        prometheus = Prometheus(work / "prometheus", [jupyter_job("jupyter", server,
                                                                   server.token)])
        try:
            with _maybe_cgroup() as cgroup:
                kernels = [server.start_kernel() for _ in range(3 if cgroup else 2)]
                plays = [threading.Thread(target=stepper, args=(kernels[0],)),
                         threading.Thread(target=interrupted, args=(kernels[1],))]
                if cgroup:
                    plays.append(threading.Thread(target=oom_killed, args=(kernels[2], cgroup)))
                started = time.time()
                for play in plays:
                    play.start()
                for play in plays:
                    play.join()
                time.sleep(max(0, started + 150 - time.time()))
                shoot(prometheus, "oomguard_kernel_rss_bytes", f"{time.time() - started + 5:.0f}s")
                for name in ("oomguard_watchdog_interrupts_total", "oomguard_oom_kills_total",
                             "oomguard_cells_total"):
                    print(name, prometheus.query(name))
        finally:
            prometheus.stop()
            server.stop()
    print(f"wrote {OUT}")


class _maybe_cgroup:
    def __enter__(self):
        self._context = memory_cgroup(400 * MiB)
        try:
            return self._context.__enter__()
        except CgroupUnavailable as why:
            print(f"no OOM-killed kernel in the picture: {why}")
            self._context = None
            return None

    def __exit__(self, *exc):
        if self._context is not None:
            self._context.__exit__(*exc)


def shoot(prometheus: Prometheus, expr: str, span: str) -> None:
    query = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": span,
                                    "g0.stacked": "0"})
    url = f"{prometheus.url}/graph?{query}"
    subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--hide-scrollbars",
                    "--window-size=1400,900", "--virtual-time-budget=15000",
                    f"--screenshot={OUT}", url], check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, HOME=tempfile.gettempdir()))


if __name__ == "__main__":
    main()
