"""Sizes for people: one way to write bytes across the shim's messages and text, the
same as the panel's (src/format.ts; docs/measurements.md, Units; both are tested on
schema/vectors/format-bytes.json)."""
from __future__ import annotations

import math
from typing import Optional

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: Optional[float]) -> str:
    """Binary units, as session limits are given, to three significant digits at most:
    "512 B", "1.5 GiB", "512 MiB". None (not measured) is an em dash."""
    if n is None or isinstance(n, bool) or not isinstance(n, (int, float)) \
            or not math.isfinite(n):
        return "\u2014"
    size = abs(float(n))
    unit = 0
    while unit < len(UNITS) - 1 and size >= 1024.0 ** (unit + 1):
        unit += 1
    while True:  # at most twice: a figure that rounds to 1024 goes to the next unit
        scale = 1024.0 ** unit
        tenths = math.floor(size * 10 / scale + 0.5)  # rounded half up, in tenths
        if unit > 0 and tenths < 1000:
            text = f"{tenths // 10}.{tenths % 10}"
            break
        whole = math.floor(size / scale + 0.5)
        if whole >= 1024 and unit < len(UNITS) - 1:
            unit += 1
            continue
        text = str(whole)
        break
    sign = "-" if n < 0 and text.strip("0.") else ""
    return f"{sign}{text} {UNITS[unit]}"
