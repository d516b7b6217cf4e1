"""The pre-run predictor on both corpora: time per cell and recall / false alarms.

    PYTHONPATH=python_shim .venv/bin/python benchmarks/predictor.py           # prints it
    PYTHONPATH=python_shim .venv/bin/python benchmarks/predictor.py --write   # and puts it
                                                                # into docs/benchmarks.md

benchmarks/run.py puts the same section ("Predictor") into docs/benchmarks.md with the
rest; --write replaces only this section there, leaving the others as measured. The
corpora are the test ones: python_shim/tests/predict_corpus.py (cells written for the
predictor's test suite) and predict_real_corpus.py (cells lifted from public code, each
with its source). A risky cell counts as found when a finding on its line and device is
risky with peak_bytes within -10%/+15% of the hand arithmetic; a benign cell is a false
alarm when any finding is risky.
"""
from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "python_shim" / "tests"
REPEATS = 5
TARGET_MEDIAN_S = 0.001
TARGET_P99_S = 0.010


def _found(case, findings, tolerance=(0.90, 1.15)) -> bool:
    here = [f for f in findings if f.line == case.line and f.device == case.device]
    if not here:
        return False
    worst = max(here, key=lambda f: f.peak_bytes)
    return worst.risky and tolerance[0] * case.peak <= worst.peak_bytes <= \
        tolerance[1] * case.peak


def _p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def measure(repeats: int = REPEATS) -> dict:
    """Times of every call (default budget, as before a cell) and the verdicts."""
    for path in (str(TESTS), str(ROOT / "python_shim")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import predict_corpus
    import predict_real_corpus
    from oomguard.predict import predict

    # One-time work of a process (torch's op registry, the formula table): the first
    # call of a session pays it; measured apart.
    warm_case = predict_real_corpus.RISKY[0]
    started = time.perf_counter()
    predict(warm_case.cell, warm_case.setup(), ram_available=1 << 40)
    first_call = time.perf_counter() - started

    corpora = {
        "existing corpus": (predict_corpus.RISKY, predict_corpus.BENIGN,
                            lambda c: c.source, lambda c: predict_corpus.RAM,
                            lambda c: predict_corpus.VRAM, lambda c: "(all)"),
        "real-code corpus": (predict_real_corpus.RISKY, predict_real_corpus.BENIGN,
                             lambda c: c.cell, lambda c: c.ram, lambda c: c.vram,
                             lambda c: c.family),
    }
    results = {"first_call": first_call, "corpora": {}}
    for name, (risky, benign, cell, ram, vram, family) in corpora.items():
        times = []
        families = defaultdict(lambda: {"risky": 0, "found": 0, "benign": 0, "alarms": 0})
        missed, alarms = [], []
        exact = {"exact": 0, "estimate": 0}
        for case in [*risky, *benign]:
            namespace = case.setup()
            findings = None
            for _ in range(repeats):
                started = time.perf_counter()
                findings = predict(cell(case), namespace, ram_available=ram(case),
                                   vram_available=vram(case))
                times.append(time.perf_counter() - started)
            row = families[family(case)]
            if case in risky:
                row["risky"] += 1
                if _found(case, findings):
                    row["found"] += 1
                else:
                    missed.append(case.name)
            else:
                row["benign"] += 1
                if any(f.risky for f in findings):
                    row["alarms"] += 1
                    alarms.append(case.name)
            for finding in findings:
                exact["exact" if finding.exact else "estimate"] += 1
        results["corpora"][name] = {
            "cells": len(risky) + len(benign), "risky": len(risky), "benign": len(benign),
            "median": statistics.median(times), "p99": _p99(times), "max": max(times),
            "families": dict(families), "missed": missed, "alarms": alarms,
            "exact": exact}
    return results


def section(results: dict = None) -> str:
    results = results or measure()
    import os
    import platform
    from datetime import datetime, timezone
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Predictor",
        "",
        f"Measured {when} by `benchmarks/predictor.py` on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs.",
        "",
        f"`oomguard.predict` on its two test corpora, {REPEATS} calls per cell with the "
        "default time budget (as before a cell), namespaces built once per cell. Targets "
        "from issue 9: median ≤ 1 ms and p99 ≤ 10 ms per cell; recall ≥ 95% of the risky "
        "cells on the right line and device with peak_bytes within −10%/+15% of the "
        "libraries' arithmetic, no benign cell flagged.",
        "",
        "| corpus | cells (risky / benign) | median | p99 | max | recall | false alarms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["corpora"].items():
        found = sum(row["found"] for row in r["families"].values())
        verdict_time = "met" if r["median"] <= TARGET_MEDIAN_S and r["p99"] <= TARGET_P99_S \
            else "**missed**"
        lines.append(
            f"| {name} | {r['cells']} ({r['risky']} / {r['benign']}) "
            f"| {r['median'] * 1000:.2f} ms | {r['p99'] * 1000:.2f} ms "
            f"| {r['max'] * 1000:.1f} ms ({verdict_time}) "
            f"| {found}/{r['risky']} ({found / max(1, r['risky']):.1%}) "
            f"| {len(r['alarms'])}/{r['benign']} |")
    lines += [
        "",
        f"The first call in a process also reads torch's op registry and compiles the "
        f"formula table: {results['first_call'] * 1000:.0f} ms once per session, not "
        "counted above.",
        "",
        "Per family, real-code corpus:",
        "",
        "| family | risky found | benign flagged |",
        "| --- | --- | --- |",
    ]
    real = results["corpora"]["real-code corpus"]
    for family, row in sorted(real["families"].items()):
        risky = f"{row['found']}/{row['risky']}" if row["risky"] else "—"
        benign = f"{row['alarms']}/{row['benign']}" if row["benign"] else "—"
        lines.append(f"| {family} | {risky} | {benign} |")
    for name, r in results["corpora"].items():
        if r["missed"] or r["alarms"]:
            lines.append("")
            lines.append(f"{name}: missed {', '.join(r['missed']) or 'none'}; "
                         f"false alarms {', '.join(r['alarms']) or 'none'}.")
    exact = real["exact"]
    lines += [
        "",
        f"Findings on the real-code corpus: {exact['exact']} exact (sizes from shapes, "
        f"dtypes, values read and the libraries' arithmetic), {exact['estimate']} "
        "estimates (densities, draws, guessed widths).",
        "",
    ]
    return "\n".join(lines)


def write_into(path: Path, text: str) -> None:
    """Replace the "## Predictor" section of `path` (up to the next "## "), or append it."""
    current = path.read_text() if path.exists() else ""
    start = current.find("\n## Predictor\n")
    if start < 0:
        path.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + 1)
    path.write_text(current[:start + 1] + text + (current[end + 1:] if end >= 0 else ""))


if __name__ == "__main__":
    text = section()
    print(text)
    if "--write" in sys.argv[1:]:
        write_into(ROOT / "docs" / "benchmarks.md", text)
