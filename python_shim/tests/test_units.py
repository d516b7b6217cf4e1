"""Bytes for people: the kernel's texts write them as the panel does, one table for both
(schema/vectors/format-bytes.json; src/__tests__/format.spec.ts reads it too)."""
import json
import math
from pathlib import Path

import pytest

from oomguard.units import format_bytes

VECTORS = Path(__file__).resolve().parents[2] / "schema" / "vectors" / "format-bytes.json"


def cases():
    if not VECTORS.exists():
        pytest.skip("no schema/ here (an installed package is being tested)")
    return json.loads(VECTORS.read_text())["cases"]


def test_bytes_are_written_as_the_shared_table_says():
    wrong = [(n, format_bytes(n), text) for n, text in cases() if format_bytes(n) != text]
    assert not wrong, wrong


def test_what_is_not_a_figure_is_a_dash_never_a_crash():
    for value in (None, math.nan, math.inf, -math.inf, "12", True):
        assert format_bytes(value) == "\u2014"
