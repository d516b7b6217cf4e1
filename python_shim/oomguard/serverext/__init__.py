"""oomguard's Jupyter server extension: publishes the figures of every kernel that runs
oomguard on the server's own Prometheus endpoint, /metrics (the server's
`authenticate_prometheus` setting applies). Enabled on install by
jupyter-config/server-config/oomguard.json; docs/fleet.md is the operator's guide.

The server reads the state file each kernel's shim writes (statefile.py): a scrape
never talks to a kernel. This module only wires the collector (metrics.py) in."""
from __future__ import annotations


def _jupyter_server_extension_points():
    return [{"module": "oomguard.serverext"}]


def _load_jupyter_server_extension(serverapp) -> None:
    import prometheus_client  # a dependency of jupyter_server, never of the kernel shim

    from .metrics import OomguardMetrics

    metrics = OomguardMetrics(serverapp.kernel_manager, parent=serverapp)
    metrics.register(prometheus_client.REGISTRY)  # what the server's /metrics handler serves
    serverapp.log.info("oomguard: publishing kernel memory figures on /metrics")
