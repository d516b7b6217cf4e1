"""The predictor on cells from real public code (predict_real_corpus.py): at least 95% of
the risky cells flagged on the right line and device with peak_bytes within -10%/+15%
of the libraries' arithmetic; no benign cell flagged. Per-cell results are also
asserted one by one, so that a regression names its cell."""
from __future__ import annotations

import pytest

from oomguard.predict import predict
from predict_real_corpus import BENIGN, RISKY

# Accuracy is what this measures: a shared 2-core machine can stall one call past the
# 50 ms budget, which would read as a miss. Time is measured by benchmarks/predictor.py.
BUDGET = 1.0


def verdict(case) -> bool:
    findings = predict(case.cell, case.setup(), ram_available=case.ram,
                       vram_available=case.vram, budget_s=BUDGET)
    here = [f for f in findings if f.line == case.line and f.device == case.device]
    if not here:
        return False
    worst = max(here, key=lambda f: f.peak_bytes)
    return worst.risky and 0.90 * case.peak <= worst.peak_bytes <= 1.15 * case.peak


def test_corpus_is_big_enough_and_sourced():
    assert len(RISKY) >= 60 and len(BENIGN) >= 40
    assert len({c.name for c in RISKY + BENIGN}) == len(RISKY) + len(BENIGN)
    assert all(c.source and c.family for c in RISKY + BENIGN)


def test_recall_on_risky_cells():
    flagged = [case.name for case in RISKY if verdict(case)]
    missed = sorted({case.name for case in RISKY} - set(flagged))
    assert len(flagged) >= 0.95 * len(RISKY), f"missed: {missed}"


@pytest.mark.parametrize("case", RISKY, ids=lambda c: c.name)
def test_risky_cell(case):
    findings = predict(case.cell, case.setup(), ram_available=case.ram,
                       vram_available=case.vram, budget_s=BUDGET)
    here = [f for f in findings if f.line == case.line and f.device == case.device]
    assert here, f"nothing on line {case.line} ({case.device}): {findings}"
    worst = max(here, key=lambda f: f.peak_bytes)
    assert worst.risky
    assert 0.90 * case.peak <= worst.peak_bytes <= 1.15 * case.peak, \
        (worst.peak_bytes, case.peak)


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.name)
def test_benign_cell_not_flagged(case):
    findings = predict(case.cell, case.setup(), ram_available=case.ram,
                       vram_available=case.vram, budget_s=BUDGET)
    assert not [f for f in findings if f.risky], findings
