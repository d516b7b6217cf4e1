"""A real kernel with oomguard for the cluster tests, which leaves no process behind:
Dask workers and Ray's daemons are the kernel's children, checked gone after it."""
from __future__ import annotations

import contextlib
import socket

from kernel_session import KernelSession

SETUP = ("%load_ext oomguard\nimport oomguard, os, time\n"
         "oomguard.enable(interval=0.5, summary='off')")


def free_port() -> int:
    # The OS picks an unused port at random (never one of Jupyter's 8888-8895 defaults).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def oomguard_kernel(tmp_path):
    """A kernel with oomguard enabled (sampling every 0.5 s, no text summaries); on exit
    it is shut down and none of its processes may outlive it (they are killed, and the
    test fails, if any do)."""
    import psutil  # a dependency of distributed and ray: present wherever these run
    kernel = KernelSession(tmp_path)
    pid = None
    try:
        kernel.execute(SETUP)
        pid = kernel.evaluate("os.getpid()")
        yield kernel
    finally:
        try:
            children = psutil.Process(pid).children(recursive=True) if pid else []
        except psutil.NoSuchProcess:
            children = []
        kernel.shutdown()
        _, alive = psutil.wait_procs(children, timeout=15)
        for process in alive:
            process.kill()
        assert not alive, f"processes outlived the kernel: {[p.pid for p in alive]}"
