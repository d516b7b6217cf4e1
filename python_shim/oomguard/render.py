"""Text for users without the JupyterLab extension (Colab, VS Code, classic notebook,
terminal IPython): a one-line summary after each cell, what the %oomguard magic shows
(magics.py) and a live dashboard. Every kernel-supplied string that goes into HTML is escaped; nothing here
calls repr/str on user objects (variables come pre-described by sizes.py)."""
from __future__ import annotations

import html
import logging
import sys
import threading
import time
import uuid
from typing import Iterable, List, Optional

from .probes.limits import format_bytes

log = logging.getLogger("oomguard")

PREFIX = "[oomguard]"
PEAK_WORDS = {"hwm": "exact (VmHWM)", "sampled": "sampled"}


class Glyphs:
    """Separators that the output stream can encode (a C-locale terminal cannot do '·')."""

    def __init__(self, stream=None):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            " · → Δ".encode(encoding)
            fancy = True
        except (LookupError, UnicodeEncodeError):
            fancy = False
        self.sep, self.arrow, self.delta = (" · ", "→", "Δ") if fancy else (" | ", "->", "d")


def size(n: Optional[int]) -> str:
    return "?" if n is None else format_bytes(n)


def signed(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return ("+" if n >= 0 else "-") + format_bytes(abs(n))


def duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def session_text(reading: Optional[dict]) -> Optional[str]:
    """'2.1 GiB of 12.7 GiB session (cgroup v2)' from a reading, or None."""
    reading = reading or {}
    limit, used = reading.get("limit"), reading.get("used")
    source = reading.get("limit_source") or "unknown"
    if limit is None:
        return None
    if used is None:
        return f"limit {size(limit)} ({source})"
    return f"{size(used)} of {size(limit)} session ({source})"


# -- the summary after each cell ---------------------------------------------------------
def summary_lines(record, reading: Optional[dict], verbose: bool, g: Glyphs) -> List[str]:
    cell = "cell" if record.execution_count is None else f"cell {record.execution_count}"
    if record.ram_delta is None:
        ram = "RAM not measured"
    else:
        ram = signed(record.ram_delta)
        if record.ram_peak_delta is not None:
            sampled = "sampled " if record.peak_method != "hwm" else ""
            ram += f" ({sampled}peak {signed(record.ram_peak_delta)})"
    parts = [f"{PREFIX} {cell}: {ram}"]
    session = session_text(reading)
    if session:
        parts.append(session)
    parts.append(duration(record.duration))
    if record.status != "ok":
        parts.append(record.status)
    lines = [g.sep.join(parts)]
    if not verbose:
        return lines
    lines.append(f"  kernel RSS {size(record.ram_before)} {g.arrow} {size(record.ram_after)}, "
                 f"peak {size(record.ram_peak)}, "
                 f"{PEAK_WORDS.get(record.peak_method, record.peak_method)}")
    if record.container_peak is not None:
        lines.append(f"  container peak {size(record.container_peak)} (cgroup memory.peak)")
    free = (reading or {}).get("free")
    if free is not None:
        lines.append(f"  free for the session: {size(free)}")
    for gpu in record.gpu:
        before, after, peak = gpu.get("before"), gpu.get("after"), gpu.get("peak")
        change = signed(after - before) if None not in (before, after) else "?"
        peak_change = signed(peak - before) if None not in (before, peak) else "?"
        lines.append(f"  GPU {gpu.get('index')}: {change} (peak {peak_change}){g.sep}"
                     f"{size(before)} {g.arrow} {size(after)}")
    for finding in record.findings:
        message = finding.get("message") if isinstance(finding, dict) else None
        if isinstance(message, str):
            lines.append(f"  finding: {message}")
    lines.extend(f"  note: {note}" for note in record.notes)
    return lines


def print_summary(record, reading: Optional[dict], mode: str, stream=None) -> None:
    """Print to the cell's own output (sys.stdout is still the cell's in post_run_cell).
    Not flushed here: ipykernel's flush waits for its IO thread, and it flushes the
    cell's streams itself before the reply; a terminal's stdout is line-buffered."""
    stream = stream if stream is not None else sys.stdout
    lines = summary_lines(record, reading, mode == "verbose", Glyphs(stream))
    stream.write("\n".join(lines) + "\n")


# -- %oomguard ---------------------------------------------------------------------------
def gpu_lines(gpus: Optional[list], g: Glyphs) -> List[str]:
    if gpus is None:
        return []
    lines = []
    for gpu in gpus:
        if not isinstance(gpu, dict):
            continue
        text = f"GPU {gpu.get('index')}"
        if isinstance(gpu.get("name"), str):
            text += f" ({gpu['name']})"
        text += f": {size(gpu.get('used'))} of {size(gpu.get('total'))} used"
        if gpu.get("process_used") is not None:
            text += f"{g.sep}this kernel {size(gpu['process_used'])}"
        if gpu.get("torch_allocated") is not None or gpu.get("torch_reserved") is not None:
            text += (f"{g.sep}torch {size(gpu.get('torch_allocated'))} allocated, "
                     f"{size(gpu.get('torch_reserved'))} reserved")
        lines.append(text)
    return lines


def oom_group_text(where: Optional[str]) -> str:
    """What cgroup v2's memory.oom.group = 1 means for the user (the panel says the same)."""
    found = f" ({where})" if where else ""
    return (f"{PREFIX} one OOM kill ends this whole container: memory.oom.group = 1{found}, "
            "as Kubernetes 1.28+ sets it. A kernel that runs the container out of memory "
            "takes every other kernel and the Jupyter server with it. oomguard's watchdog "
            "is then all that stands between you and losing every session: keep it on, "
            "and keep the spool on persistent storage (oomguard.enable(spool=...) or "
            "OOMGUARD_SPOOL_DIR), not in the container's own files.")


def snapshot_text(snap: dict, peak_method: str, summary_mode: str,
                  oom_group: tuple = (None, None)) -> str:
    """%oomguard: the readings; `oom_group` is CgroupProbe.oom_group()'s answer."""
    g = Glyphs(sys.stdout)
    header = (f"{PREFIX} peaks per cell: {PEAK_WORDS.get(peak_method, peak_method)}"
              f"{g.sep}summary after each cell: {summary_mode}")
    lines = [header] + reading_lines(snap, g)
    grouped, where = oom_group
    if grouped:
        lines.append(oom_group_text(where))
    return "\n".join(lines)


def reading_lines(snap: dict, g: Glyphs, running_before: Optional[int] = None) -> List[str]:
    lines = []
    kernel = f"kernel RSS {size(snap.get('rss'))}"
    if snap.get("children_rss"):
        kernel += f" (+ {size(snap['children_rss'])} in child processes)"
    lines.append(kernel)
    session = session_text(snap)
    if session:
        free = snap.get("free")
        lines.append(session + (f"{g.sep}{size(free)} free" if free is not None else ""))
    if snap.get("host_total") is not None:
        lines.append(f"machine: {size(snap.get('host_available'))} available of "
                     f"{size(snap['host_total'])}")
    lines.extend(gpu_lines(snap.get("gpus"), g))
    running = snap.get("running_cell")
    if isinstance(running, dict) and isinstance(running.get("start"), (int, float)):
        text = (f"running: cell {running.get('execution_count')} for "
                f"{duration(time.time() - running['start'])}")
        if running_before is not None and isinstance(snap.get("rss"), int):
            text += f", {signed(snap['rss'] - running_before)} so far"
        lines.append(text)
    lines.extend(f"note: {note}" for note in snap.get("notes") or [])
    return lines


def cells_table(records: Iterable, g: Optional[Glyphs] = None) -> str:
    g = g or Glyphs(sys.stdout)
    rows = [("cell", "status", "time", f"RAM {g.delta}", f"peak {g.delta}", "RAM after",
             "peak")]
    for r in records:
        rows.append(("" if r.execution_count is None else str(r.execution_count), r.status,
                     duration(r.duration), signed(r.ram_delta), signed(r.ram_peak_delta),
                     size(r.ram_after), r.peak_method))
    if len(rows) == 1:
        return f"{PREFIX} no cells recorded yet"
    return _table(rows, right=(0, 2, 3, 4, 5))


def variables_table(found: list, truncated: bool, limit: int = 20) -> str:
    if not found:
        return f"{PREFIX} no variables found"
    ranked = sorted(found, key=lambda v: v.get("bytes") or 0, reverse=True)[:limit]
    rows = [("name", "type", "size", "device", "shape", "dtype")]
    for v in ranked:
        shape = v.get("shape")
        rows.append((_clip(v.get("name")), _clip(v.get("type")),
                     size(v.get("bytes")) + ("+" if v.get("truncated") else ""),
                     _clip(v.get("device")) or "",
                     "x".join(str(d) for d in shape) if isinstance(shape, list) else "",
                     _clip(v.get("dtype")) or ""))
    text = _table(rows, right=(2,))
    if truncated:
        text += f"\n{PREFIX} the scan hit its time budget: some variables are missing"
    return text


def _clip(value, width: int = 40) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= width else value[:width - 1] + "~"


def _table(rows: List[tuple], right: tuple) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def hints_text(hints: List[dict]) -> str:
    if not hints:
        return f"{PREFIX} no leak hints: nothing kept growing over the last cells"
    return "\n".join(f"{PREFIX} {hint.get('message', '')}\n    fix: {hint.get('suggestion', '')}"
                     for hint in hints)


# -- the live dashboard -------------------------------------------------------------------
def dashboard_bundle(snap: dict, last_record, updated: float, g: Optional[Glyphs] = None,
                     running_before: Optional[int] = None) -> dict:
    g = g or Glyphs(None)  # HTML and Jupyter's text/plain are Unicode
    lines = reading_lines(snap, g, running_before)
    if last_record is not None and not snap.get("running_cell"):
        lines.append("last " + summary_lines(last_record, None, False, g)[0]
                     .replace(PREFIX + " ", ""))
    lines.append("updated " + time.strftime("%H:%M:%S", time.localtime(updated)))
    text = "\n".join(["oomguard"] + lines)
    rows = "".join(f"<tr><td style='text-align:left;font-family:monospace'>"
                   f"{html.escape(line)}</td></tr>" for line in lines)
    page = (f"<div class='oomguard-dashboard'><b>oomguard</b>"
            f"<table style='margin:0'>{rows}</table></div>")
    return {"text/plain": text, "text/html": page}


class Dashboard:
    """A display that the sampler thread refreshes (update_display_data) while cells run,
    at most once per MIN_GAP seconds, plus once after a cell ends. `stop()` freezes it."""

    MIN_GAP = 1.0

    def __init__(self, runtime):
        self._runtime = runtime
        self.display_id = "oomguard-" + uuid.uuid4().hex
        self._lock = threading.Lock()
        self._stopped = False
        self._dirty = False
        self._last = 0.0
        self.live = False

    def show(self) -> "Dashboard":
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        # Only a kernel can update a display in place; a terminal would get the text again.
        self.live = getattr(shell, "kernel", None) is not None
        bundle = self._bundle(glyphs=None if self.live else Glyphs(sys.stdout))
        if shell is None:  # plain Python: the text, once
            print(bundle["text/plain"])
            return self
        from IPython.display import display  # IPython is already imported here
        display(bundle, raw=True, display_id=self.display_id)
        if self.live:
            self._runtime.sampler.add_sink(self._on_sample)
            self._runtime.recorder.on_record.append(self._on_record)
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._runtime.sampler.remove_sink(self._on_sample)
        try:
            self._runtime.recorder.on_record.remove(self._on_record)
        except ValueError:
            pass

    def _bundle(self, snap: Optional[dict] = None, glyphs: Optional[Glyphs] = None) -> dict:
        snap = snap if snap is not None else self._runtime.snapshot()
        recorder = self._runtime.recorder
        return dashboard_bundle(snap, recorder.last_record(), time.time(), glyphs,
                                recorder.running_ram_before())

    def _on_record(self, _record) -> None:
        self._dirty = True  # the sampler's next tick shows how the cell ended

    def _on_sample(self, reading: dict) -> None:
        with self._lock:
            if self._stopped or not (reading.get("running_cell") or self._dirty):
                return
            now = time.monotonic()
            if now - self._last < self.MIN_GAP:
                return
            self._last, self._dirty = now, False
        from IPython.display import update_display
        update_display(self._bundle(dict(reading)), raw=True, display_id=self.display_id)

    def _ipython_display_(self) -> None:
        pass  # the dashboard is already on screen; echoing the handle would add nothing

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else ("live" if self.live else "static")
        return f"<oomguard dashboard {state}>"
