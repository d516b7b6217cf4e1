"""A survival harness: plays the OOM killer against a real kernel.

A thread in the test process reads the kernel's VmRSS from /proc/<pid>/status every 10 ms
and SIGKILLs the kernel once it passes a configured limit, as the kernel's OOM killer
would in a container with that limit. Scenarios are the ways notebooks die of memory;
modes are the protections under test:

    none              oomguard not loaded
    watchdog          oomguard.enable(limit=L, watchdog=0.95)   (the default fraction)
    watchdog+cap      the same plus hard_cap=True

The session limit given to oomguard is the harness's kill limit, so oomguard knows what
the "container" allows, exactly as it would read it from a cgroup. Used by
tests/test_guard_survival.py and benchmarks/survival.py."""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

MiB = 1 << 20
GiB = 1 << 30
HEADROOM = 1536 * MiB  # the "container" allows the kernel's baseline plus this
POLL = 0.01

SENTINEL = "sentinel = 'defined before the risky cell'"
SENTINEL_VALUE = "defined before the risky cell"
SETUP = "import gc, torch\ntorch.manual_seed(0)\n" + SENTINEL

SCENARIOS = {
    # A loop that keeps every graph it builds (features plus edges), ~8 MiB each.
    "accumulate graphs": (
        "graphs = []\n"
        "while True:\n"
        "    graphs.append((torch.randn(2048, 1024), torch.randint(0, 2048, (2, 16384))))\n"
    ),
    # The classic: losses.append(loss) keeps every step's autograd graph (activations).
    "losses with autograd graphs": (
        "model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(),\n"
        "                            torch.nn.Linear(512, 1))\n"
        "losses = []\n"
        "while True:\n"
        "    x = torch.randn(4096, 512)\n"
        "    loss = model(x).pow(2).mean()\n"
        "    losses.append(loss)\n"
    ),
    # A dense N x N adjacency built 32 rows at a time (N = 200,000: 149 GiB in all).
    "dense adjacency in chunks": (
        "n = 200_000\n"
        "rows = []\n"
        "for start in range(0, n, 32):\n"
        "    rows.append(torch.zeros(32, n))\n"
        "adj = torch.cat(rows)\n"
    ),
    # One C call: 28378 x 28378 float32 = 3.0 GiB. No Python bytecode runs until it returns.
    "single giant allocation": "n = 28378\nbig = torch.ones(n, n)\n",
}
LOOP_SCENARIOS = [name for name in SCENARIOS if name != "single giant allocation"]
# Under a real memory limit (real_cgroup.py), where child processes count: two DataLoader
# workers, each keeping `mib` MiB per item it loads.
DATALOADER_GROWS = (
    "class Hoarder(torch.utils.data.Dataset):\n"
    "    def __init__(self):\n"
    "        self.kept = []\n"
    "    def __len__(self):\n"
    "        return 1 << 30\n"
    "    def __getitem__(self, i):\n"
    "        self.kept.append(torch.ones({mib} << 18))\n"
    "        return i\n"
    "loader = torch.utils.data.DataLoader(Hoarder(), num_workers=2, batch_size=None)\n"
    "for item in loader:\n"
    "    pass\n")
CLEANUP = ("for _name in ('graphs', 'model', 'losses', 'x', 'loss', 'rows', 'adj', 'big'):\n"
           "    globals().pop(_name, None)\n"
           "gc.collect()\n"
           # glibc keeps freed heap pages; give them back so each run starts from a true
           # baseline (the harness's business, not the shim's).
           "try:\n"
           "    __import__('ctypes').CDLL(None).malloc_trim(0)\n"
           "except Exception:\n"
           "    pass")

MODES = {
    "none": None,
    "watchdog": "import oomguard\noomguard.enable(summary='off', mode='off', limit={limit}, "
                "watchdog=0.95, hard_cap=False)",
    "watchdog+cap": "import oomguard\noomguard.enable(summary='off', mode='off', "
                    "limit={limit}, watchdog=0.95, hard_cap=True)",
}


def read_rss(pid: int, field: bytes = b"VmRSS:") -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Watcher:
    """A thread that calls `tick()` every `poll` seconds inside a `with` block, until the
    block ends or `tick()` returns False."""

    def __init__(self, poll: float = POLL, name: str = "watcher"):
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name=name)

    def tick(self) -> bool:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)

    def _watch(self):
        while not self._stop.is_set() and self.tick():
            self._stop.wait(self.poll)


class OomKiller(Watcher):
    """Kills `pid` with SIGKILL once its VmRSS passes `limit` bytes."""

    def __init__(self, pid: int, limit: int, poll: float = POLL):
        super().__init__(poll, name="oom-killer")
        self.pid, self.limit = pid, limit
        self.killed = False
        self.peak = 0

    def tick(self) -> bool:
        rss = read_rss(self.pid)
        if rss is None:
            return False  # gone
        self.peak = max(self.peak, rss)
        if rss > self.limit:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.killed = True
            return False
        return True


@dataclass
class Outcome:
    scenario: str
    mode: str
    limit: int
    baseline: int
    killed: bool
    peak: int                        # the largest RSS the harness saw
    status: Optional[str] = None     # execute_reply status, when the kernel answered
    ename: Optional[str] = None
    said: str = ""                   # what the cell printed on stderr
    sentinel_intact: Optional[bool] = None
    seconds: float = 0.0
    record: Optional[dict] = None    # oomguard's CellRecord of the scenario's cell
    hwm: Optional[int] = None        # the kernel's exact peak (VmHWM) over the cell
    notes: list = field(default_factory=list)

    @property
    def survived(self) -> bool:
        # A real OOM killer acts at the allocation, not every 10 ms: a peak above the limit
        # that the polls missed counts as a death.
        over = self.hwm is not None and self.hwm > self.limit
        return not self.killed and not over and bool(self.sentinel_intact)


def kernel_pid(session) -> int:
    return session.km.provisioner.pid


def execute_until_done_or_dead(session, code: str, timeout: float = 60):
    """Send `code` as a notebook would; return (reply content or None if the kernel died,
    the stderr text of the request)."""
    msg = session.kc.session.msg("execute_request", {
        "code": code, "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": False})
    msg_id = msg["header"]["msg_id"]
    since = session.mark()
    session.kc.shell_channel.send(msg)
    deadline = time.monotonic() + timeout
    reply = None
    while time.monotonic() < deadline:
        if not session.km.is_alive():
            break
        try:
            candidate = session.kc.get_shell_msg(timeout=0.2)
        except Exception:
            continue
        if candidate["parent_header"].get("msg_id") == msg_id:
            reply = candidate["content"]
            break
    if reply is not None:  # let the iopub side catch up to idle
        end = time.monotonic() + 5
        while time.monotonic() < end and not any(
                m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
                for _, m in session.messages[since:]):
            time.sleep(0.02)
    said = "".join(m["content"]["text"] for _, m in session.messages[since:]
                   if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream"
                   and m["content"]["name"] == "stderr")
    return reply, said


def prepare(session) -> None:
    """Once per kernel: torch and the sentinel."""
    session.execute(SETUP, timeout=120)


def run_scenario(session, scenario: str, mode: str, headroom: int = HEADROOM,
                 timeout: float = 90) -> Outcome:
    """Run one scenario in a prepared kernel under `mode`. The kernel may be dead after."""
    session.execute(CLEANUP)
    pid = kernel_pid(session)
    baseline = read_rss(pid) or 0
    limit = baseline + headroom
    if MODES[mode] is not None:
        session.execute(MODES[mode].format(limit=limit))
    outcome = Outcome(scenario, mode, limit, baseline, killed=False, peak=baseline)
    started = time.monotonic()
    with OomKiller(pid, limit) as killer:
        reply, said = execute_until_done_or_dead(session, SCENARIOS[scenario], timeout)
    outcome.seconds = time.monotonic() - started
    outcome.killed, outcome.peak, outcome.said = killer.killed, killer.peak, said
    if reply is None:
        outcome.killed = outcome.killed or not session.km.is_alive()
        return outcome
    outcome.status, outcome.ename = reply.get("status"), reply.get("ename")
    # oomguard resets VmHWM at each cell's start, so this is the cell's exact peak; without
    # oomguard it is the kernel's lifetime peak, an upper bound.
    outcome.hwm = read_rss(pid, b"VmHWM:")
    try:
        outcome.sentinel_intact = session.evaluate("sentinel") == SENTINEL_VALUE
    except Exception as exc:
        outcome.notes.append(f"sentinel unreadable: {type(exc).__name__}")
        outcome.sentinel_intact = False
    if MODES[mode] is not None:
        outcome.record = session.evaluate("oomguard.cells()[-1].to_dict()")
    session.execute(CLEANUP)
    if MODES[mode] is not None:  # leave no cap or small limit behind for the next run
        session.execute("oomguard.enable(limit=None, hard_cap=False)")
    return outcome

