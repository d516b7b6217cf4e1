"""What the guard says: the warning before a risky cell, the block message, the watchdog's
and the cap's notes. Findings come from the predictor (objects or dicts); nothing here
touches user objects."""
from __future__ import annotations

from typing import Optional

from ..units import format_bytes

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


def _kind_of_size(finding) -> str:
    return "an exact size" if field(finding, "exact") is True else "an estimate"


def finding_lines(findings: list, free: dict, *, say_exact: bool = False,
                  page_cache: Optional[int] = None) -> list:
    """Per finding: what, where and how big against what is free, and the suggestion.
    `say_exact`: say whether each size is exact or an estimate (auto mode decides on it).
    `page_cache`: where a finding fits only once the kernel reclaims page cache, say so."""
    lines = []
    for finding in findings:
        device = field(finding, "device") or "cpu"
        line = field(finding, "line")
        where = f"line {line}" if isinstance(line, int) else "this cell"
        how = f" ({_kind_of_size(finding)})" if say_exact else ""
        lines.append(f"  - {field(finding, 'message') or 'a large allocation'}")
        if field(finding, "risky") is not True and page_cache:
            lines.append(f"    {where} needs {_size(field(finding, 'peak_bytes'))} at peak on "
                         f"{device}{how}; it fits in the {_size(free.get(device))} free only "
                         f"once the kernel reclaims some of the {_size(page_cache)} of page "
                         "cache counted in the limit's use (it does so by itself, which can "
                         "slow the cell)")
        else:
            lines.append(f"    {where} needs {_size(field(finding, 'peak_bytes'))} at peak on "
                         f"{device}{how}; {free_phrase(device, free)}")
        suggestion = field(finding, "suggestion")
        if suggestion:
            lines.append(f"    suggestion: {suggestion}")
    return lines


CAP_LINE = "oomguard.enable(hard_cap=True)"


def single_call_text(blocked: bool) -> str:
    """Why neither the check nor the watchdog can help once a too-big single call runs."""
    start = "If you run it anyway, nothing" if blocked else "Nothing"
    return (f"{start} but the hard cap (or not running the cell) can stop it: it is one "
            "call bigger than what is free, and the watchdog's interrupt lands only after a "
            "call returns, when the kernel may already be killed. With the cap, the call "
            f"fails with a MemoryError instead: {CAP_LINE}")


def warning_text(verdict, free: dict) -> str:
    """The cell runs: what may not fit, and why it was not stopped."""
    auto = verdict.mode == "auto"
    lines = [f"{PREFIX} this cell may run out of memory:"]
    lines += finding_lines(verdict.shown, free, say_exact=auto,
                           page_cache=verdict.page_cache)
    if auto:
        lines.append("It runs: oomguard blocks a cell only when its exact size cannot fit "
                     "(mode \"auto\"); oomguard.enable(mode=\"block\") also stops cells "
                     "whose size is an estimate.")
    else:
        lines.append("It runs anyway (mode \"warn\"); oomguard.enable(mode=\"block\") "
                     "stops such cells before they run.")
    if verdict.single_call:
        lines.append(single_call_text(blocked=False))
    return "\n".join(lines)


def block_text(verdict, free: dict) -> str:
    """The cell was stopped: why it cannot fit, how to run it anyway, the suggestion."""
    if verdict.mode == "auto":
        head = (f"{PREFIX} blocked this cell before it ran: its size is exact and more than "
                "the session can have (its limit less the memory in use), so running it "
                "would get the kernel killed, and every variable with it.")
        shown = verdict.blocking
    else:
        head = (f"{PREFIX} blocked this cell before it ran: it would need more memory than "
                "is free, and the session could be killed.")
        shown = verdict.shown
    lines = [head] + finding_lines(shown, free, say_exact=verdict.mode == "auto")
    lines.append("Nothing ran; your variables are unchanged. " + ALLOW_HOW)
    if verdict.single_call:
        lines.append(single_call_text(blocked=True))
    return "\n".join(lines)


def watchdog_note(firing) -> str:
    """The record's note: where it stopped, against what, and why there (a Firing)."""
    arming = firing.arming
    reading, limit = firing.reading, arming.limit
    share = f"{100 * reading / limit:.0f}% of " if limit > 0 else ""
    trigger = firing.trigger or arming.trigger
    why = ""
    if trigger < (arming.fraction or arming.trigger) and (firing.step or firing.child_steps):
        grew = [f"the cell by up to {format_bytes(firing.step)}"] if firing.step else []
        if firing.child_steps:
            grew.append(f"its child processes by up to {format_bytes(firing.child_steps)} "
                        "between them")
        why = f", before the next step could reach the limit: {' and '.join(grew)} at a time"
    return (f"stopped at {format_bytes(reading)} ({share}a {format_bytes(limit)} limit; "
            f"{arming.what}, the watchdog acts at {format_bytes(trigger)}{why})")


RELEASE_HOW = ("%oomguard release drops the traceback that Python and IPython keep of the "
               "last error for %debug, and what it keeps alive")


def watchdog_text(firing, now: Optional[int], kernel: Optional[int]) -> str:
    """The cell's stderr after the watchdog stopped it: what happened, what each figure
    is (the container's reading counts child processes; the kernel's own is its resident
    set), and how to get memory back."""
    container = firing.arming.what == "the container's memory"
    if container and now is not None:
        figures = (f" In use now: {format_bytes(now)} in the container (this kernel's memory "
                   "cgroup, its child processes included)")
        figures += (f"; the kernel process's own resident set: {format_bytes(kernel)}."
                    if kernel is not None else ".")
    elif kernel is not None or now is not None:
        figures = f" The kernel holds {format_bytes(kernel if kernel is not None else now)} now."
    else:
        figures = ""
    workers = ""
    if container and firing.children:
        workers = (" Its child processes (DataLoader workers) were not interrupted: they "
                   "finish what they were asked for, and keep what they hold while the "
                   "interrupted loop is referenced, by your variables or by the last "
                   "error's traceback.")
    return (f"{PREFIX} {watchdog_note(firing)}. The cell was interrupted so the kernel would "
            f"not be killed; your variables are still there.{figures}{workers} Free what you "
            f"no longer need (del name); {RELEASE_HOW} (the interrupted code's local "
            "variables, a DataLoader's workers).")


def cap_text(cap: Optional[int]) -> str:
    shown = f" ({format_bytes(cap)} of address space)" if cap is not None else ""
    return (f"{PREFIX} an allocation failed at the memory cap{shown}, set just under the "
            "session's limit, so the kernel was not killed; your variables are still "
            "there.")
