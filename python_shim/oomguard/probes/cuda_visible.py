"""Which GPUs CUDA shows this process, and in what order, from ``CUDA_VISIBLE_DEVICES``.

NVML and nvidia-smi list every GPU of the machine in PCI bus order; CUDA shows only the
devices named in ``CUDA_VISIBLE_DEVICES``, numbered 0, 1, ... in the order given there.
The rules below are CUDA's (as PyTorch's ``torch.cuda._parse_visible_devices`` mirrors
them): entries are integer ordinals (read like ``strtoul``: "1gpu2" is 1), ``GPU-<uuid>``
or ``MIG-<uuid>`` prefixes that must name one device; the list stops at the first entry
that is invalid or names no device; a repeated device makes the whole list empty."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

Entry = Union[int, str]

UUID_PREFIXES = ("GPU-", "MIG-")


def _ordinal(text: str) -> int:
    """The integer ``strtoul`` reads at the start of text, or -1 where it reads none."""
    text = text.strip()
    sign, digits = 1, ""
    if text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    for char in text:
        if char not in "0123456789":
            break
        digits += char
    return sign * int(digits) if digits else -1


def parse(value: Optional[str]) -> Optional[List[Entry]]:
    """The entries of ``CUDA_VISIBLE_DEVICES`` up to the first invalid one; None when the
    variable is unset (every device visible). "" and "-1" give [] (no device visible)."""
    if value is None:
        return None
    entries: List[Entry] = []
    for raw in value.split(","):
        text = raw.strip()
        if text.startswith(UUID_PREFIXES):
            entries.append(text)
            continue
        number = _ordinal(text)
        if number < 0:
            break  # CUDA stops reading at the first invalid entry
        if number in entries:
            return []  # an ordinal named twice: CUDA shows no device at all
        entries.append(number)
    return entries


def _unique_prefix_match(prefix: str, uuids: Sequence[Optional[str]]) -> int:
    """Position of the one uuid starting with prefix; -1 where none or several do."""
    found = -1
    for position, uuid in enumerate(uuids):
        if uuid and uuid.startswith(prefix):
            if found >= 0:
                return -1  # ambiguous abbreviation: CUDA rejects it
            found = position
    return found


def select(entries: Optional[List[Entry]], physical: Sequence[dict],
           mig: Optional[Sequence[dict]] = None, notes: Optional[List[str]] = None) -> List[dict]:
    """The devices CUDA shows, in CUDA's order.

    physical: the machine's GPUs, each with "physical" (its NVML / nvidia-smi index) and
    "uuid". mig: MIG instances with their "uuid" where the source can list them, else None.
    """
    if entries is None:
        return list(physical)
    by_index = {device["physical"]: device for device in physical}
    chosen: List[dict] = []
    for entry in entries:
        device = None
        if isinstance(entry, int):
            device = by_index.get(entry)
        elif entry.startswith("GPU-"):
            position = _unique_prefix_match(entry, [d.get("uuid") for d in physical])
            device = physical[position] if position >= 0 else None
        elif mig is None:
            if notes is not None:
                notes.append("CUDA_VISIBLE_DEVICES names a MIG instance; its memory can only "
                             "be read through NVML (pip install nvidia-ml-py).")
        else:
            position = _unique_prefix_match(entry, [d.get("uuid") for d in mig])
            device = mig[position] if position >= 0 else None
        if device is None:
            break  # CUDA shows only the devices before the first one it cannot find
        if any(device is other for other in chosen):
            return []  # a device named twice: CUDA shows none
        chosen.append(device)
    return chosen
