"""Make `import oomguard` work from a source checkout (CI installs the package instead).
Kernels started by the tests inherit PYTHONPATH, so they import the same code."""
import contextlib
import os
import sys

import pytest

try:
    import oomguard  # noqa: F401
except ImportError:
    _shim = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, _shim)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_shim, os.environ.get("PYTHONPATH")) if p)


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: starts a real ipykernel (a few seconds each)")


@pytest.fixture
def kernel_in_cgroup(tmp_path_factory):
    """Real kernels under a real memory limit: `start(limit)` -> (KernelSession,
    MemoryCgroup), each kernel in its own fresh cgroup v1 memory group (real_cgroup.py),
    where the kernel's own OOM killer acts. Afterwards every kernel is shut down and its
    group removed, whatever the test did. Skips, saying why, where such a group cannot be
    made (not root, no writable v1 memory controller, cgroup v2)."""
    from kernel_session import kernel_in_memory_cgroup
    from real_cgroup import GiB, unavailable
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no real memory limit here: {reason}")
    with contextlib.ExitStack() as started:
        def start(limit=2 * GiB):
            return started.enter_context(
                kernel_in_memory_cgroup(tmp_path_factory.mktemp("cgroup-kernel"), limit))
        yield start
