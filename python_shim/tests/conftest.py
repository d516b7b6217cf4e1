"""Make `import oomguard` work from a source checkout (CI installs the package instead).
Kernels started by the tests inherit PYTHONPATH, so they import the same code."""
import os
import sys

try:
    import oomguard  # noqa: F401
except ImportError:
    _shim = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, _shim)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_shim, os.environ.get("PYTHONPATH")) if p)


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: starts a real ipykernel (a few seconds each)")
