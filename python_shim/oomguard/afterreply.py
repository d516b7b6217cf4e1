"""Work that may wait until a cell's execute_reply has gone out.

In a kernel the cell runs inside the shell's event loop, and ipykernel sends the reply
before that loop runs anything scheduled meanwhile; so a callback scheduled from a cell
hook runs after the reply, before the next request is handled. What it does then costs
the cell's round trip nothing (docs/benchmarks.md, "Per cell"). Where no loop runs on
this thread (terminal IPython, plain Python), it runs at once."""
from __future__ import annotations

import asyncio
from typing import Callable


def after_reply(callback: Callable[[], None]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        try:
            loop.call_soon(callback)
            return
        except Exception:  # the loop is closing: now
            pass
    callback()
