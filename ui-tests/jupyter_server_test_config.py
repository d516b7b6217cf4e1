"""Jupyter Server configuration for the oomguard galata / Playwright UI tests.

Started by ``npm start`` (Playwright's ``webServer``):

    jupyter lab --config jupyter_server_test_config.py

WARNING: this configuration removes every security protection (no token, no
XSRF check, runs as root). Never use it outside of the test harness.
"""

import os

from jupyterlab.galata import configure_jupyter_server

# Galata defaults: port 8888 with port_retries=0 (fail fast instead of silently
# moving to 8889), no browser, no token/password, no XSRF check, galata's
# in-page test helper extension, a throw-away workspaces directory, and a
# root_dir in a fresh temporary folder (override with JUPYTERLAB_GALATA_ROOT_DIR).
configure_jupyter_server(c)  # noqa: F821

# Deterministic address: Playwright's webServer polls http://localhost:8888/lab.
c.ServerApp.ip = "localhost"  # noqa: F821
c.ServerApp.port = int(os.environ.get("OOMGUARD_UI_TESTS_PORT", "8888"))  # noqa: F821

# CI containers and the dev machine run as root.
c.ServerApp.allow_root = True  # noqa: F821

# No network access from the test machine: never fetch news or check updates.
c.LabApp.news_url = None  # noqa: F821
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"  # noqa: F821

# Kernels must never be culled or shut down behind a test's back.
c.MappingKernelManager.cull_idle_timeout = 0  # noqa: F821

# Uncomment to debug the server side of a failing test:
# c.ServerApp.log_level = "DEBUG"

# Extra kernels for the tests: a Python kernel that cannot import oomguard (as in an
# environment where it is not installed), from jupyter-data/kernels/. The bash kernel
# comes from the `bash_kernel` package. Kernel directories are not configurable, so
# the data path is extended before the kernel spec manager is made.
from pathlib import Path  # noqa: E402

_test_data = str(Path(__file__).parent / "jupyter-data")
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (_test_data, os.environ.get("JUPYTER_PATH", "")) if p
)
