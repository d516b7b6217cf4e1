"""Survival: oom_killer.py plays the OOM killer against real kernels. Without oomguard
each scenario kills the kernel; with the watchdog every loop survives; with the watchdog
and the hard cap the single giant allocation survives too. About a minute in all."""
import sys

import pytest
from kernel_session import KernelSession
from oom_killer import GiB, LOOP_SCENARIOS, SCENARIOS, prepare, run_scenario


def _available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


pytestmark = [
    pytest.mark.kernel, pytest.mark.timeout(240),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
    pytest.mark.skipif(_available() < 4 * GiB,
                       reason="the scenarios grow a kernel by 1.5 GiB; needs 4 GiB available"),
]


def _kernel(tmp_path_factory):
    session = KernelSession(tmp_path_factory.mktemp("survival"))
    prepare(session)
    return session


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_without_oomguard_the_kernel_is_killed(tmp_path_factory, scenario):
    session = _kernel(tmp_path_factory)
    try:
        outcome = run_scenario(session, scenario, "none")
        assert outcome.killed and not outcome.survived, outcome
        assert not session.km.is_alive()
    finally:
        session.shutdown()


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    session = _kernel(tmp_path_factory)
    yield session
    session.shutdown()


@pytest.mark.parametrize("scenario", LOOP_SCENARIOS)
def test_with_the_watchdog_every_loop_survives(watched, scenario):
    outcome = run_scenario(watched, scenario, "watchdog")
    assert outcome.survived and not outcome.killed, outcome
    assert outcome.peak < outcome.limit and outcome.hwm < outcome.limit
    assert outcome.status == "error" and outcome.ename == "KeyboardInterrupt"
    assert "oomguard: stopped at" in outcome.said and "of a" in outcome.said
    assert outcome.record["status"] == "interrupted"
    assert any(note.startswith("stopped at") for note in outcome.record["notes"])


RLIMIT_DATA = "__import__('resource').getrlimit(__import__('resource').RLIMIT_DATA)"


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    session = _kernel(tmp_path_factory)
    session.original_rlimit = session.evaluate(RLIMIT_DATA)
    yield session
    session.shutdown()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_with_watchdog_and_cap_every_scenario_survives(capped, scenario):
    outcome = run_scenario(capped, scenario, "watchdog+cap")
    assert outcome.survived and not outcome.killed, outcome
    assert outcome.status == "error"
    assert "oomguard:" in outcome.said  # the guard says what happened, in plain words
    if scenario == "single giant allocation":
        assert outcome.ename in ("RuntimeError", "MemoryError")
        assert "memory cap" in outcome.said
        assert outcome.record["status"] == "error"
    else:  # the watchdog at 95% usually acts before the cap at 98%
        assert outcome.ename in ("KeyboardInterrupt", "RuntimeError", "MemoryError")
    assert capped.evaluate(RLIMIT_DATA) == capped.original_rlimit  # restored after the run
