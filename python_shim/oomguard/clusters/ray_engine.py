"""Ray: a cell whose task Ray's memory monitor killed gets a record saying so.

When a node's memory passes `RAY_memory_usage_threshold` (0.95 by default), the raylet's
memory monitor kills a worker and `ray.get` raises `ray.exceptions.OutOfMemoryError`,
whose message names the node (its address and memory used against its limit) and the
task (its name, pid and memory). We read that message from the exception's instance
dict (never its repr) when the cell's error is exactly that type, and turn it into a
`lost` entry. Ray's memory is not sampled per cell: there is no client object to find in
the namespace, and the node's figures live in the raylet (its dashboard agent or metrics
endpoint), which a notebook may not run; for a local Ray, the kernel's own host figures
already cover the node. Checked against ray 2.60 and the message of ray 2.9-2.50."""
from __future__ import annotations

import re
from typing import Optional

from ..sizes.safe import clip, instance_dict, module_attr
from .base import WorkerEvent

NAME = "ray"
MODULE = "ray"
UNSAMPLED = ("Ray's memory is not sampled per cell: the record holds the task that its "
             "memory monitor killed")
GIB = 1 << 30
_ARGS = BaseException.__dict__["args"]

_NODE = re.compile(r"Memory on the node \(IP: ([^,)\s]+)")
_NODE_GB = re.compile(r"was ([\d.]+)GB(?: used)? / ([\d.]+)GB")
_NODE_BYTES = re.compile(r"Memory usage (\d+)B exceeded threshold of (\d+)B "
                         r"\(([\d.]+)% of (\d+)B limit\)")
_THRESHOLD = re.compile(r"memory usage threshold of ([\d.]+)")
_TASK_NAME = re.compile(r"(?:task name|name)=([^,)\s]+)")
_TASK_ID = re.compile(r"task ID: ([0-9a-f]+)")
_PID = re.compile(r"pid=(\d+)")
_TASK_MEMORY = re.compile(r"memory used=([\d.]+)GB")
_WORKER_ID = re.compile(r"(?:worker ID=|killed this worker \(ID: )([0-9a-f]+)")


def _first(pattern: re.Pattern, text: str) -> Optional[str]:
    match = pattern.search(text)
    return match.group(1) if match else None


def _gib(text: Optional[str]) -> Optional[int]:
    try:
        return int(float(text) * GIB) if text else None
    except ValueError:
        return None


def message_of(error: BaseException) -> Optional[str]:
    state = instance_dict(error) or {}
    message = state.get("message")
    if type(message) is not str:
        args = _ARGS.__get__(error)
        message = args[0] if type(args) is tuple and args and type(args[0]) is str else None
    return message


def cell_error(error: BaseException) -> Optional[WorkerEvent]:
    """The task and node that an OutOfMemoryError names, or None for any other error."""
    oom_type = module_attr("ray.exceptions", "OutOfMemoryError")
    if oom_type is None or type(error) is not oom_type:
        return None
    text = message_of(error) or ""
    node = _first(_NODE, text)
    exact = _NODE_BYTES.search(text)
    extra: dict = {"node": clip(node) if node else None}
    if exact:
        used, threshold, percent, total = exact.groups()
        extra.update(node_used=int(used), node_total=int(total),
                     node_threshold=int(threshold))
        verdict = (f"the node's memory, {int(used) / GIB:.2f} GiB used of "
                   f"{int(total) / GIB:.2f} GiB, passed its kill threshold of "
                   f"{int(threshold) / GIB:.2f} GiB ({percent}%, RAY_memory_usage_threshold)")
    else:
        found = _NODE_GB.search(text)
        used, total = found.groups() if found else (None, None)
        extra.update(node_used=_gib(used), node_total=_gib(total), node_threshold=None)
        fraction = _first(_THRESHOLD, text)
        verdict = "the node ran low on memory"
        if used and total:
            verdict = f"the node's memory, {used} GB used of {total} GB, passed " + \
                (f"the threshold of {fraction} " if fraction else "its kill threshold ") + \
                "(RAY_memory_usage_threshold)"
    worker_id, pid = _first(_WORKER_ID, text), _first(_PID, text)
    if pid:
        extra["pid"] = int(pid)
    worker = "ray worker" + (f" {worker_id[:12]}" if worker_id else "") + \
        (f" (pid {pid})" if pid else "") + (f" on node {node}" if node else "")
    task = _first(_TASK_NAME, text) or _first(_TASK_ID, text)
    return WorkerEvent("lost", clip(worker), clip(f"Ray's memory monitor killed it: {verdict}"),
                       None, rss=_gib(_first(_TASK_MEMORY, text)),
                       task=clip(task) if task else None, extra=extra,
                       error="OutOfMemoryError")
