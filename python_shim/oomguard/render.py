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

from .units import format_bytes

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
    cluster = record.cluster if isinstance(record.cluster, dict) else None
    if cluster is not None:
        parts.append(cluster_change(cluster))
    session = session_text(reading)
    if session:
        parts.append(session)
    parts.append(duration(record.duration))
    if record.status != "ok":
        parts.append(record.status)
    lines = [g.sep.join(parts)]
    if cluster is not None:  # a worker killed for memory is news even in a summary
        lines.extend(f"{PREFIX} {line}" for line in worker_event_lines(cluster))
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
    if cluster is not None:
        lines.extend(cluster_lines(cluster, g))
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


# -- a cluster's figures (the record's `cluster`, clusters/) ------------------------------
def _bytes(cluster: dict, name: str) -> Optional[int]:
    value = cluster.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _change(cluster: dict, name: str) -> Optional[int]:
    before, other = _bytes(cluster, "before"), _bytes(cluster, name)
    return None if before is None or other is None else other - before


def cluster_change(cluster: dict) -> str:
    """'dask cluster +512.0 MiB (sampled peak +520.0 MiB)' for the one-line summary."""
    engine = cluster.get("engine") if isinstance(cluster.get("engine"), str) else "cluster"
    change = _change(cluster, "after")
    if change is None:
        return f"{engine} cluster not measured"
    text = f"{engine} cluster {signed(change)}"
    peak = _change(cluster, "peak")
    return text + (f" (sampled peak {signed(peak)})" if peak is not None else "")


def worker_event_lines(cluster: dict) -> List[str]:
    """One line per worker restarted or lost during the cell."""
    lines = []
    for kind in ("restarted", "lost"):
        for event in cluster.get(kind) or []:
            if not isinstance(event, dict):
                continue
            text = f"worker {event.get('worker')} {kind}"
            if event.get("idle"):
                text += " (before this cell, while the kernel was idle)"
            text += f": {event.get('reason')}"
            rss, limit = event.get("rss"), event.get("limit")
            if rss is not None:
                text += f", {size(rss)} in use" + (f" of {size(limit)}" if limit else "")
            if event.get("task"):
                text += f"; it was running task {event['task']}"
            lines.append(text)
    return lines


def cluster_lines(cluster: dict, g: Glyphs) -> List[str]:
    """The verbose summary's lines about the cluster."""
    workers = cluster.get("workers")
    text = f"  {cluster.get('engine')} cluster at {cluster.get('scheduler')}"
    if all(_bytes(cluster, name) is None for name in ("before", "after", "peak")):
        text += ": not measured"
    else:
        text += (f" ({workers if workers is not None else '?'} workers): "
                 f"{size(_bytes(cluster, 'before'))} {g.arrow} "
                 f"{size(_bytes(cluster, 'after'))}, "
                 f"sampled peak {size(_bytes(cluster, 'peak'))}")
        if _bytes(cluster, "limit") is not None:
            text += f" of {size(cluster['limit'])} limit"
    lines = [text]
    per_worker = cluster.get("per_worker") if isinstance(cluster.get("per_worker"), dict) \
        else {}
    for address, peak in list(per_worker.items())[:5]:  # the highest peaks come first
        lines.append(f"    worker {address}: peak {size(peak)}")
    if len(per_worker) > 5:
        lines.append(f"    ... and {len(per_worker) - 5} more workers")
    lines.extend(f"  cluster note: {note}" for note in cluster.get("notes") or []
                 if isinstance(note, str))
    return lines


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
    records = list(records)
    # The cluster's columns only where a cell had a cluster (clusters/).
    clusters = any(isinstance(r.cluster, dict) for r in records)
    header = ("cell", "status", "time", f"RAM {g.delta}", f"peak {g.delta}", "RAM after",
              "peak")
    if clusters:
        header += (f"cluster {g.delta}", f"cluster peak {g.delta}", "cluster after",
                   "workers lost")
    rows = [header]
    for r in records:
        row = ("" if r.execution_count is None else str(r.execution_count), r.status,
               duration(r.duration), signed(r.ram_delta), signed(r.ram_peak_delta),
               size(r.ram_after), r.peak_method)
        if clusters:
            c = r.cluster if isinstance(r.cluster, dict) else None
            row += ("", "", "", "") if c is None else (
                signed(_change(c, "after")), signed(_change(c, "peak")),
                size(_bytes(c, "after")),
                str(len(c.get("restarted") or []) + len(c.get("lost") or [])))
        rows.append(row)
    if len(rows) == 1:
        return f"{PREFIX} no cells recorded yet"
    return _table(rows, right=(0, 2, 3, 4, 5) + ((7, 8, 9, 10) if clusters else ()))


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
