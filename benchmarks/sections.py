"""Each benchmark script owns one `## ` section of docs/benchmarks.md and rewrites it."""
from __future__ import annotations

import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(heading: str, text: str, out: Path = OUT) -> None:
    """Put `text` (which starts with `heading`) in place of that section (or at the end)."""
    current = out.read_text() if out.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    out.write_text(updated)
