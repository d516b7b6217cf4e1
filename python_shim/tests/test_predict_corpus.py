"""The predictor on the corpus: every risky cell flagged risky on the right line and
device with peak_bytes within 10% of the hand arithmetic; no benign cell flagged."""
from __future__ import annotations

import statistics
import time

import pytest

from oomguard.predict import MIN_REPORTED, Finding, predict
from predict_corpus import BENIGN, RAM, RISKY, VRAM


def test_corpus_is_big_enough():
    assert len(RISKY) >= 40 and len(BENIGN) >= 40
    assert len({c.name for c in RISKY + BENIGN}) == len(RISKY) + len(BENIGN)


@pytest.mark.parametrize("case", RISKY, ids=lambda c: c.name)
def test_risky_cell_flagged(case):
    findings = predict(case.source, case.setup(), ram_available=RAM, vram_available=VRAM)
    here = [f for f in findings if f.line == case.line and f.device == case.device]
    assert here, f"nothing on line {case.line} ({case.device}): {findings}"
    worst = max(here, key=lambda f: f.peak_bytes)
    assert worst.risky
    assert abs(worst.peak_bytes - case.peak) <= 0.10 * case.peak, \
        (worst.peak_bytes, case.peak)
    assert worst.bytes <= worst.peak_bytes
    assert f"Line {case.line}" in worst.message and worst.suggestion
    available = VRAM if case.device.startswith("cuda") else RAM
    assert worst.available == available


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.name)
def test_benign_cell_not_flagged(case):
    findings = predict(case.source, case.setup(), ram_available=RAM, vram_available=VRAM)
    assert not [f for f in findings if f.risky], findings
    assert all(f.bytes >= MIN_REPORTED for f in findings)


def test_same_cells_are_risky_on_a_smaller_session():
    """Benign is about size, not about the API: a 48 MiB cell is risky with 10 MiB free."""
    case = next(c for c in BENIGN if c.name == "small_randint_float")
    findings = predict(case.source, case.setup(), ram_available=10 << 20)
    assert [f.risky for f in findings] == [True]
    assert findings[0].peak_bytes == 2000 * 2000 * 12


def test_finding_to_dict_has_the_public_fields():
    case = RISKY[0]
    finding = predict(case.source, case.setup(), ram_available=RAM)[0]
    assert isinstance(finding, Finding)
    data = finding.to_dict()
    for key in ("kind", "line", "bytes", "peak_bytes", "device", "risky", "message",
                "suggestion"):
        assert key in data
    assert data["line"] == 3 and data["device"] == "cpu" and data["risky"] is True


def test_corpus_timing(record_property):
    """Predictor time per corpus cell (namespace already built): the overhead per cell."""
    times = []
    for case in RISKY + BENIGN:
        namespace = case.setup()
        predict(case.source, namespace, ram_available=RAM, vram_available=VRAM)
        start = time.perf_counter()
        predict(case.source, namespace, ram_available=RAM, vram_available=VRAM)
        times.append(time.perf_counter() - start)
    median, worst = statistics.median(times), max(times)
    record_property("corpus_median_ms", round(median * 1000, 3))
    record_property("corpus_max_ms", round(worst * 1000, 3))
    print(f"corpus: median {median * 1000:.2f} ms, max {worst * 1000:.2f} ms")
    assert median < 0.005
    assert worst < 0.25  # the 50 ms budget plus a wide margin for a shared machine
