"""Command line: turn the spool a kernel left on disk into an export.

    python -m oomguard list [--dir DIR]
    python -m oomguard export [SPOOL] [-f csv|json|trace] [-o OUT]

SPOOL is a spool file (any of its parts) or a directory; without it, the most recently
written spool in the default directory (docs/measurements.md, "Exports and the spool")."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

from .exporters import FORMATS, export
from .spool import default_directory, list_spools, read_spool

EXTENSIONS = {"csv": ".csv", "json": ".json", "trace": ".trace.json"}


def _default_output(spool_path: str, fmt: str) -> Path:
    name = Path(spool_path).name
    stem = name[:-len(".jsonl")] if name.endswith(".jsonl") else name
    return Path(stem + EXTENSIONS[fmt])


def _list(directory: Optional[str]) -> int:
    spools = list_spools(directory)
    where = directory or default_directory()
    if not spools:
        print(f"no oomguard spools in {where}")
        return 0
    for spool in spools:
        modified = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(spool["modified"]))
        print(f"{spool['path']}  pid {spool['pid']}  {spool['bytes'] / 1048576:.1f} MiB  "
              f"last written {modified}")
    return 0


def _export(source: Optional[str], fmt: str, output: Optional[str]) -> int:
    try:
        samples, cells, session = read_spool(source)
    except OSError as exc:
        print(f"oomguard: {exc}", file=sys.stderr)
        return 1
    target = Path(output) if output else _default_output(session["path"], fmt)
    try:
        written = export(target, fmt, samples, cells, session=session)
    except OSError as exc:
        print(f"oomguard: could not write {target}: {exc}", file=sys.stderr)
        return 1
    skipped = session.get("skipped_lines") or 0
    print(f"{len(samples)} samples, {len(cells)} cells from {session['path']}"
          + (f" ({skipped} unreadable lines skipped)" if skipped else ""))
    for path in written:
        print(path)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oomguard",
        description="Turn the spool a kernel left on disk into an export.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the spools kernels have left")
    listing.add_argument("--dir", help="spool directory (default: %(default)s)",
                         default=None)
    exporting = commands.add_parser("export", help="export a spool as csv, json or trace")
    exporting.add_argument("spool", nargs="?", default=None,
                           help="spool file or directory (default: the latest spool)")
    exporting.add_argument("-f", "--format", choices=FORMATS, default="trace")
    exporting.add_argument("-o", "--output", default=None,
                           help="output file (default: named after the spool, here)")
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list(args.dir)
    return _export(args.spool, args.format, args.output)


if __name__ == "__main__":
    sys.exit(main())
