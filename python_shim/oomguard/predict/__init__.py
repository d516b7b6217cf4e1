"""Predict a cell's memory before it runs: oomguard.predict(source, namespace, ...).

The cell is parsed with `ast`, never run; names resolve against the live namespace
through safe reads (resolve.py); each recognised allocation becomes a Finding."""
from __future__ import annotations

from .findings import MIN_REPORTED, Finding
from .engine import predict

__all__ = ["Finding", "MIN_REPORTED", "predict"]
