"""Sizes for people: one way to write bytes across the shim's messages and text."""
from __future__ import annotations


def format_bytes(n: float) -> str:
    """Binary units, as session limits are given: "512 B", "1.5 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # unreachable
