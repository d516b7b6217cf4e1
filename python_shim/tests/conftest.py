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


# Every message the shim builds, in every test, is checked against schema/protocol.json
# (protocol_check.py): those its builders return in this process, and those real kernels
# send (kernel_session.py captures them).
BUILDERS = ("hello", "sample", "cell_start", "cell", "sizes", "hints", "variables",
            "prediction", "warning", "spool", "error")


@pytest.fixture(scope="session", autouse=True)
def _builders_checked():
    import functools

    from oomguard import protocol
    from protocol_check import capture

    def checked(build):
        @functools.wraps(build)
        def wrapper(*args, **kwargs):
            message = build(*args, **kwargs)
            capture("builder", message)
            return message
        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        for name in BUILDERS:
            patch.setattr(protocol, name, checked(getattr(protocol, name)))
        yield


@pytest.fixture(autouse=True)
def _messages_valid(_builders_checked):
    """Fails the test (at its teardown) when a message built or sent during it is not
    valid as sent."""
    from protocol_check import check_pending
    early = check_pending()  # sent after the last test ended (an in-process sampler)
    if early:
        pytest.fail(f"{len(early)} message(s) sent after the previous test ended are not "
                    "valid against schema/protocol.json:\n" + "\n".join(early[:5]),
                    pytrace=False)
    yield
    failures = check_pending()
    if failures:
        pytest.fail(f"{len(failures)} message(s) not valid against schema/protocol.json:\n"
                    + "\n".join(failures[:5]), pytrace=False)


def pytest_terminal_summary(terminalreporter):
    try:
        from protocol_check import check_pending, checked
    except ImportError:
        return
    late = check_pending()
    total = sum(checked.values())
    if not total:
        return
    by_source, by_kind = {}, {}
    for (source, kind), count in checked.items():
        by_source[source] = by_source.get(source, 0) + count
        by_kind[kind] = by_kind.get(kind, 0) + count
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(
        by_kind.items(), key=lambda item: -item[1]))
    terminalreporter.write_line(
        f"protocol: {total} messages validated against schema/protocol.json "
        f"({', '.join(f'{s} {n}' for s, n in sorted(by_source.items()))}; {kinds})"
        + (f"; {len(late)} invalid after the last test" if late else ""))
    for failure in late[:5]:
        terminalreporter.write_line(failure)


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
