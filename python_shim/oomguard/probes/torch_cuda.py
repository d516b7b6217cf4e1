"""PyTorch's caching-allocator figures, read only where the user's own code made them exist.

The shim never imports torch and never initialises CUDA (a CUDA context alone costs
hundreds of MiB of GPU memory): everything here first checks that "torch" is in
sys.modules and that ``torch.cuda.is_initialized()`` (itself only reads a flag). After that,
device_count() and the memory_* functions read counters under the allocator's lock; they
make no CUDA call and create no context."""
from __future__ import annotations

import logging
import sys
from typing import Any, Dict, Optional, Tuple

log = logging.getLogger("oomguard")


def initialised_cuda() -> Optional[Any]:
    """The torch.cuda module if the user imported torch and CUDA is initialised, else None."""
    if "torch" not in sys.modules:
        return None
    # From sys.modules, not getattr(torch, "cuda"): torch may be half-imported on the main
    # thread while the sampler thread looks, and a module __getattr__ could import things.
    cuda = sys.modules.get("torch.cuda")
    is_initialized = getattr(cuda, "is_initialized", None)
    try:
        return cuda if is_initialized is not None and is_initialized() is True else None
    except Exception:
        return None


def _device_count(cuda: Any) -> int:
    count = cuda.device_count()
    return count if isinstance(count, int) and count > 0 else 0


def allocator_figures() -> Dict[int, Tuple[Optional[int], Optional[int]]]:
    """{CUDA device index: (memory_allocated, memory_reserved)} in bytes; {} when CUDA is
    not initialised. A device whose figures cannot be read maps to (None, None)."""
    cuda = initialised_cuda()
    if cuda is None:
        return {}
    figures: Dict[int, Tuple[Optional[int], Optional[int]]] = {}
    try:
        for index in range(_device_count(cuda)):
            try:
                figures[index] = (int(cuda.memory_allocated(index)),
                                  int(cuda.memory_reserved(index)))
            except Exception:
                figures[index] = (None, None)
    except Exception:
        log.debug("oomguard: torch.cuda figures could not be read", exc_info=True)
    return figures


def reset_torch_peaks() -> bool:
    """Reset torch's peak-allocation counters on every device, so torch_peaks() after a cell
    is that cell's peak. Changes only those counters, which the user's code may also read;
    call it only where a setting allows. False (and nothing reset) when CUDA is not
    initialised or the reset failed."""
    cuda = initialised_cuda()
    if cuda is None:
        return False
    try:
        for index in range(_device_count(cuda)):
            cuda.reset_peak_memory_stats(index)
        return True
    except Exception:
        log.debug("oomguard: torch.cuda peaks could not be reset", exc_info=True)
        return False


def torch_peaks() -> Dict[int, int]:
    """{CUDA device index: torch.cuda.max_memory_allocated(index)} in bytes since the last
    reset; {} when CUDA is not initialised. Devices that cannot be read are left out."""
    cuda = initialised_cuda()
    if cuda is None:
        return {}
    peaks: Dict[int, int] = {}
    try:
        for index in range(_device_count(cuda)):
            try:
                peaks[index] = int(cuda.max_memory_allocated(index))
            except Exception:
                continue
    except Exception:
        log.debug("oomguard: torch.cuda peaks could not be read", exc_info=True)
    return peaks
