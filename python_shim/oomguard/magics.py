"""%oomguard and %%oomguard: one IPython Magics class, its arguments parsed by IPython's
magic_arguments, so `%oomguard?` documents every subcommand and a wrong one is named.

Imported only once IPython runs (Runtime registers it in the shell that loaded oomguard).
Nothing here raises into the user's cell: a bad argument prints what was wrong and the
subcommands, a failure prints one line (the ``oomguard`` logger has the traceback)."""
from __future__ import annotations

import logging
import textwrap

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from .render import (PREFIX, cells_table, hints_text, snapshot_text, variables_table)

log = logging.getLogger("oomguard")

DEFAULT_COUNT = 20
# name -> (arguments, what it shows or does): the one list behind the help and the errors
SUBCOMMANDS = {
    "status": ("", "the current readings: the kernel's memory, the session's limit and what "
                   "is free, the GPUs, the cell running (what %oomguard alone shows)"),
    "cells": ("[N]", f"the last N cells (default {DEFAULT_COUNT}): status, time, RAM change, "
                     "peak change, RAM after, how the peak was measured"),
    "vars": ("[N]", f"the N largest variables (default {DEFAULT_COUNT}): type, size, "
                    "device, shape, dtype"),
    "leaks": ("", "leak hints: what kept growing over the last cells, containers that keep "
                  "autograd graphs alive"),
    "release": ("", "drop the last error's traceback, which Python and IPython keep for "
                    "%debug, and what only it keeps alive (an interrupted function's locals, "
                    "a DataLoader's workers); says what that gave back"),
    "allow": ("", "the next cell runs without the pre-run check (as oomguard.allow_next()); "
                  "as %%oomguard allow on a cell's first line: that cell"),
}


def subcommand_lines(width: int = 88) -> str:
    names = {name: f"{name} {args}".strip() for name, (args, _) in SUBCOMMANDS.items()}
    column = max(map(len, names.values())) + 4
    return "\n".join(textwrap.fill(what, width, initial_indent=f"  {names[name]:<{column - 2}}",
                                   subsequent_indent=" " * column)
                     for name, (_args, what) in SUBCOMMANDS.items())


EPILOG = ("subcommands:\n" + subcommand_lines() + "\n\nexamples: %oomguard   %oomguard cells 5"
          "   %oomguard release   %%oomguard allow (a cell's first line)")
CELL_USAGE = ("usage: %%oomguard allow  (as a cell's first line: run the cell without "
              "oomguard's pre-run check)")


@magics_class
class OomguardMagics(Magics):
    def __init__(self, shell, runtime):
        super().__init__(shell)
        self._runtime = runtime

    @magic_arguments()
    @kwds(epilog=EPILOG)
    @argument("subcommand", nargs="?", default="status", choices=tuple(SUBCOMMANDS),
              metavar="SUBCOMMAND", help="what to show or do (below); default: status")
    @argument("count", nargs="?", type=int, default=DEFAULT_COUNT, metavar="N",
              help=f"how many rows cells and vars show (default {DEFAULT_COUNT})")
    @line_cell_magic
    def oomguard(self, line: str = "", cell=None):
        """oomguard: kernel memory against the session's real limit, what each cell cost,
        and the guard that keeps the kernel alive (docs/guard.md)."""
        try:
            args = parse_argstring(self.oomguard, line)
        except UsageError as error:
            print(self._usage_error(line, error, cell is not None))
            return None
        try:
            if cell is not None:
                return self._cell(args.subcommand, cell)
            self._line(args.subcommand, args.count)
        except Exception:
            log.warning("oomguard: %%oomguard failed", exc_info=True)
            print(f"{PREFIX} could not show that (see the 'oomguard' logger for why)")
        return None

    def _line(self, subcommand: str, count: int) -> None:
        runtime = self._runtime
        if subcommand == "status":
            print(snapshot_text(runtime.snapshot(), runtime.peak_method,
                                runtime.summary.mode(),
                                runtime.readings.limits.cgroup.oom_group()))
        elif subcommand == "cells":
            print(cells_table(runtime.recorder.records()[-max(count, 0):] if count > 0 else []))
        elif subcommand == "vars":
            found, truncated, _took = runtime.scan_variables()
            print(variables_table(found, truncated, max(count, 0)))
        elif subcommand == "leaks":
            print(hints_text(runtime.leaks.hints))
        elif subcommand == "release":
            print(runtime.guard.release())
        elif subcommand == "allow":
            runtime.guard.allow_next()
            print(f"{PREFIX} the next cell runs without the pre-run check")

    def _cell(self, subcommand: str, cell: str):
        """%%oomguard allow: run this cell without the pre-run check. (The cell is
        normally handled before it gets here, precheck.strip_allow_line; this runs it
        where it was not.)"""
        if subcommand != "allow":
            print(CELL_USAGE)
            return None
        # A nested run_cell is never checked (only the outer cell is), so the body runs
        # as allowed; the watchdog still watches it as part of this cell.
        return self.shell.run_cell(cell, store_history=False)

    @staticmethod
    def _usage_error(line: str, error: UsageError, as_cell: bool) -> str:
        words = line.split()
        if words and words[0] not in SUBCOMMANDS:
            said = f"{PREFIX} unknown subcommand {words[0]!r}."
        else:
            said = f"{PREFIX} {error}."
        if as_cell:
            return f"{said}\n{CELL_USAGE}"
        return f"{said} The subcommands of %oomguard (%oomguard? says more):\n" \
            + subcommand_lines()
