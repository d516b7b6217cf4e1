"""`%oomguard release`: give back what the last error's traceback keeps alive, when the user
asks for it.

After a cell is interrupted (by the watchdog or the stop button), Python keeps the error
in `sys.last_type/last_value/last_traceback` (and `sys.last_exc` from 3.12) and IPython
keeps the traceback in `InteractiveTB.tb`, both for `%debug` and `pdb.pm()`. That
traceback holds every frame the error passed through, with their local variables: a
function's temporaries, or the iterator of a `for batch in loader` loop, whose DataLoader
workers then live on, holding what they loaded. `del name` cannot reach any of that.

Dropping them changes the user's debugging state (`%debug` then has nothing to inspect),
so it is never done silently: only this explicit, documented command does it, and it
says so. It then collects garbage once (a DataLoader iterator shuts its workers down when
collected) and reports the memory in use before and after."""
from __future__ import annotations

import gc
import sys
from typing import Callable, Optional, Tuple

from ..units import format_bytes
from .text import PREFIX

LAST_ERROR = ("last_type", "last_value", "last_traceback", "last_exc")

Reading = Callable[[], Tuple[Optional[int], str]]


def drop_last_error(shell) -> bool:
    """Remove the references to the last error that Python and IPython keep for the
    debugger. True when there was one."""
    held = any(getattr(sys, name, None) is not None for name in LAST_ERROR)
    for name in LAST_ERROR:
        if hasattr(sys, name):
            delattr(sys, name)  # as before any error: %debug says there is nothing
    handler = getattr(shell, "InteractiveTB", None)
    if handler is not None and getattr(handler, "tb", None) is not None:
        handler.tb = None
        held = True
    return held


def release(shell, reading: Reading) -> str:
    """Drop the last error's traceback, collect, and say what it gave back. `reading()`
    is (bytes in use, what that figure is), measured the way the watchdog measures."""
    before, what = reading()
    if not drop_last_error(shell):
        return (f"{PREFIX} no error traceback was kept; nothing to release. Free what you no "
                "longer need with del name.")
    gc.collect()
    after, _what = reading()
    figures = ""
    if before is not None and after is not None:
        figures = f" In use ({what}): {format_bytes(before)} before, {format_bytes(after)} now."
    return (f"{PREFIX} dropped the last error's traceback, which Python and IPython kept for "
            f"%debug (it has nothing to inspect now), and what only it kept alive.{figures}")
