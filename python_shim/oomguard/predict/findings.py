"""What the predictor reports: one Finding per recognised allocation (per line and device)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional
from ..units import format_bytes  # noqa: F401  (re-exported)

MIB = 1 << 20
MIN_REPORTED = MIB  # smaller allocations are noise next to a session's gigabytes



@dataclass
class Finding:
    kind: str          # e.g. "dense_constructor", "dense_adjacency", "device_copy"
    line: int          # 1-based, in the cell as the user wrote it
    bytes: int         # nominal size of the result
    peak_bytes: int    # what the cell holds on that device when the result exists
    device: str        # "cpu", "cuda:0", ...
    risky: bool        # peak_bytes > available on that device (False when unknown)
    message: str
    suggestion: str
    available: Optional[int] = None  # free bytes on the device it was judged against
    # True when the size follows from known shapes and dtypes and the libraries'
    # arithmetic (a value read in full, like edge_index.max(), included); False for
    # densities, bounds, extrapolations from samples and heuristics.
    exact: bool = False

    def to_dict(self) -> dict:
        return asdict(self)
