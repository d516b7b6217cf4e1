"""What the guard says: the warning before a risky cell, the block message, the watchdog's
and the cap's notes. Findings come from the predictor (objects or dicts); nothing here
touches user objects."""
from __future__ import annotations

from typing import Optional

from ..probes.limits import format_bytes

PREFIX = "oomguard:"
ALLOW_HOW = ("To run it anyway, put %%oomguard allow as the cell's first line, or run "
             "oomguard.allow_next() in a cell before it.")


def field(finding, name: str):
    if isinstance(finding, dict):
        return finding.get(name)
    return getattr(finding, name, None)


def _size(value) -> str:
    return format_bytes(value) if isinstance(value, (int, float)) and \
        not isinstance(value, bool) else "an unknown amount"


def free_phrase(device: str, free: dict) -> str:
    available = free.get(device)
    limit = free.get("limit") if device == "cpu" else None
    if available is None:
        return f"free memory on {device} is not known"
    if limit is not None:
        return f"{_size(available)} free of a {_size(limit)} limit"
    return f"{_size(available)} free on {device}"


def finding_lines(findings: list, free: dict) -> list:
    lines = []
    for finding in findings:
        device = field(finding, "device") or "cpu"
        line = field(finding, "line")
        where = f"line {line}" if isinstance(line, int) else "this cell"
        lines.append(f"  - {field(finding, 'message') or 'a large allocation'}")
        lines.append(f"    {where} needs {_size(field(finding, 'peak_bytes'))} at peak on "
                     f"{device}; {free_phrase(device, free)}")
        suggestion = field(finding, "suggestion")
        if suggestion:
            lines.append(f"    suggestion: {suggestion}")
    return lines


def warning_text(findings: list, free: dict) -> str:
    return "\n".join(
        [f"{PREFIX} this cell may run out of memory:"] + finding_lines(findings, free)
        + ["It runs anyway (mode \"warn\"); oomguard.enable(mode=\"block\") stops such "
           "cells before they run."])


def block_text(findings: list, free: dict) -> str:
    return "\n".join(
        [f"{PREFIX} blocked this cell before it ran: it would need more memory than is "
         "free, and the session could be killed."] + finding_lines(findings, free)
        + ["Nothing ran; your variables are unchanged. " + ALLOW_HOW])


def watchdog_note(reading: int, limit: int, trigger: int, what: str) -> str:
    share = f"{100 * reading / limit:.0f}% of " if limit > 0 else ""
    return (f"stopped at {format_bytes(reading)} ({share}a {format_bytes(limit)} limit; "
            f"{what}, the watchdog acts at {format_bytes(trigger)})")


def watchdog_text(note: str, now: Optional[int]) -> str:
    still = f" The kernel holds {format_bytes(now)} now." if now is not None else ""
    return (f"{PREFIX} {note}. The cell was interrupted so the kernel would not be killed; "
            f"your variables are still there.{still} Free what you no longer need "
            "(del name) before running it again.")


def cap_text(cap: Optional[int]) -> str:
    shown = f" ({format_bytes(cap)} of address space)" if cap is not None else ""
    return (f"{PREFIX} an allocation failed at the memory cap{shown}, set just under the "
            "session's limit, so the kernel was not killed; your variables are still "
            "there.")
