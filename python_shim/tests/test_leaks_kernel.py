"""Leak hints in a real kernel: computed after the cells, off their path, and sent to
the front end."""
from __future__ import annotations

import time

import pytest

from kernel_session import KernelSession

pytestmark = pytest.mark.kernel

LEAKY_TRAINING = """
import torch
model = torch.nn.Linear(256, 1)
data = torch.randn(512, 256)
losses = []
for _ in range(5):
    loss = model(data).pow(2).mean()
    losses.append(loss)          # keeps every autograd graph alive
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    session = KernelSession(tmp_path_factory.mktemp("kernel"))
    session.execute("import oomguard; oomguard.enable(interval=0.1, summary='off', spool=False)")
    yield session
    session.shutdown()


def wait_for_hints(session, kind, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hints = session.evaluate("oomguard.leak_hints()")
        found = [hint for hint in hints if hint["kind"] == kind]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {kind} hint within {timeout} s; had {hints}")


def test_a_variable_growing_in_every_cell_is_named(kernel):
    comm = kernel.open_comm({"v": 1, "type": "open", "client": "pytest"})
    since = kernel.mark()
    kernel.run("chunks = []")
    for _ in range(4):
        kernel.run("chunks.append(b'\\x01' * (8 << 20))")
        time.sleep(0.3)  # one sampler tick between cells, as a person typing gives
    hint = wait_for_hints(kernel, "growth")[0]
    assert hint["name"] == "chunks"
    assert hint["bytes"] >= 24 << 20
    sent = kernel.wait_comm(comm, kind="hints", since=since)
    assert any(h["name"] == "chunks" for h in sent[-1]["hints"])


def test_losses_kept_with_their_graphs_are_flagged_with_the_fix(kernel):
    kernel.run(LEAKY_TRAINING)
    hint = wait_for_hints(kernel, "autograd_graph")[0]
    assert hint["name"] == "losses"
    assert ".item()" in hint["suggestion"] or "detach" in hint["suggestion"]
    kernel.run("losses = [l.item() for l in losses]")
    time.sleep(0.3)
    deadline = time.monotonic() + 10
    while any(h["kind"] == "autograd_graph" for h in kernel.evaluate("oomguard.leak_hints()")):
        assert time.monotonic() < deadline, "the hint outlived the fix"
        time.sleep(0.2)


def test_the_magic_shows_the_hints(kernel):
    kernel.run("grow = []")
    for _ in range(4):
        kernel.run("grow.append(b'\\x01' * (4 << 20))")
        time.sleep(0.3)
    wait_for_hints(kernel, "growth")
    _, messages = kernel.run("%oomguard leaks")
    text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    assert "grow" in text and "fix:" in text


def sizes_after(kernel, comm, execution_count, since, timeout=10.0):
    """The sizes the kernel sent after this cell (a look after an earlier cell may come
    first: the sampler makes it at its next tick)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, message in kernel.comm_messages(comm, since=since, kind="sizes"):
            if message["execution_count"] == execution_count:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no sizes after cell {execution_count}")


def test_sizes_after_each_cell_show_what_a_variable_grew_by(kernel):
    comm = kernel.open_comm({"v": 1, "type": "open", "client": "pytest"})
    since = kernel.mark()
    reply, _ = kernel.run("grows = b'\\x01' * (4 << 20)")
    first = sizes_after(kernel, comm, reply["execution_count"], since)
    assert first["sizes"]["grows"] >= 4 << 20
    reply, _ = kernel.run("grows += b'\\x01' * (12 << 20)")
    second = sizes_after(kernel, comm, reply["execution_count"], since)
    growth = second["sizes"]["grows"] - first["sizes"]["grows"]
    assert 12 << 20 <= growth <= (12 << 20) + 4096
    # Only names and sizes: never a value, never IPython's own history.
    assert all(not name.startswith("_") for name in second["sizes"])
    assert all(size is None or isinstance(size, int) for size in second["sizes"].values())
