"""oomguard.leaks: growth across cells, and containers that keep autograd graphs alive."""
from __future__ import annotations

import collections
import time

import torch

from oomguard.leaks import GrowthTracker, autograd_hints, sizes_of
from oomguard.sizes import scan_namespace, variable_sizes

MiB = 1 << 20


# --- growth --------------------------------------------------------------------------------

def test_growth_in_each_of_the_last_three_cells_is_reported_with_the_amount():
    tracker = GrowthTracker()
    assert tracker.observe({"history": 10 * MiB, "model": 50 * MiB}) == []
    assert tracker.observe({"history": 20 * MiB, "model": 50 * MiB}) == []
    assert tracker.observe({"history": 30 * MiB, "model": 50 * MiB}) == []
    hints = tracker.observe({"history": 45 * MiB, "model": 50 * MiB})
    assert [hint["name"] for hint in hints] == ["history"]
    hint = hints[0]
    assert hint["kind"] == "growth" and hint["bytes"] == 35 * MiB
    assert "3 cells" in hint["message"] and "35.0 MiB" in hint["message"]
    assert "history" in hint["suggestion"]
    # Still growing: still reported, over the last three cells only.
    assert tracker.observe({"history": 46 * MiB})[0]["bytes"] == (46 - 20) * MiB


def test_no_hint_when_growth_stops_is_small_or_the_name_went_away():
    tracker = GrowthTracker(cells=3)
    for size in (1, 2, 2, 3):  # flat in one cell
        hints = tracker.observe({"a": size * MiB})
    assert hints == []
    small = GrowthTracker()
    for size in (100, 200, 300, 400):  # grew each time, but only by bytes
        hints = small.observe({"losses": size})
    assert hints == []
    gone = GrowthTracker()
    for sizes in ({"b": MiB}, {"b": 2 * MiB}, {}, {"b": 9 * MiB}):
        hints = gone.observe(sizes)
    assert hints == []
    unmeasured = GrowthTracker()
    for size in (MiB, None, 3 * MiB, 4 * MiB):
        hints = unmeasured.observe({"c": size})
    assert hints == []


def test_cells_and_threshold_are_settings():
    tracker = GrowthTracker(cells=1, min_growth=10)
    tracker.observe({"x": 100})
    assert tracker.observe({"x": 111})[0]["bytes"] == 11
    tracker.reset()
    assert tracker.observe({"x": 500}) == []


def test_growth_tracker_never_raises():
    tracker = GrowthTracker()
    assert tracker.observe(None) == []
    assert tracker.observe({1: 2, "ok": "text", "fine": 5}) == []


def test_fed_from_a_namespace_scan():
    tracker, direct = GrowthTracker(cells=2, min_growth=MiB), GrowthTracker(cells=2)
    namespace = {"activations": [], "constant": torch.zeros(1024, 1024)}
    for _ in range(3):
        namespace["activations"].append(torch.zeros(256, 1024))  # 1 MiB per cell
        found, _ = scan_namespace(namespace)
        sizes, truncated = variable_sizes(namespace)
        assert sizes == sizes_of(found) and not truncated
        hints = tracker.observe(sizes_of(found))
        direct_hints = direct.observe(sizes)
    assert [hint["name"] for hint in hints] == ["activations"]
    assert hints[0]["bytes"] >= 2 * MiB and direct_hints == hints


# --- autograd graphs -------------------------------------------------------------------

def training_losses(steps: int):
    weight = torch.randn(32, 8, requires_grad=True)
    return [(torch.randn(4, 32) @ weight).pow(2).mean() for _ in range(steps)]


def test_losses_appended_with_their_graph_are_flagged():
    losses = training_losses(5)
    hints = autograd_hints({"losses": losses})
    assert len(hints) == 1
    hint = hints[0]
    assert hint["kind"] == "autograd_graph" and hint["name"] == "losses"
    assert "5 tensors" in hint["message"] and "grad_fn" in hint["message"]
    assert "loss.item()" in hint["suggestion"] and "loss.detach()" in hint["suggestion"]
    assert hint["bytes"] == sum(t.untyped_storage().nbytes() for t in losses)


def test_nested_history_and_deques_are_flagged():
    history = {"train": {"loss": training_losses(4)}, "epochs": 3}
    recent = collections.deque(training_losses(3), maxlen=10)
    hints = {hint["name"] for hint in autograd_hints({"history": history, "recent": recent})}
    assert hints == {"history", "recent"}


def test_the_fixed_versions_are_not_flagged():
    losses = training_losses(6)
    namespace = {
        "floats": [loss.item() for loss in losses],
        "detached": [loss.detach() for loss in losses],
        "outputs": tuple(losses[:2]),  # a forward pass's outputs, not an accumulation
        "two": losses[:2],  # below the threshold of 3
        "params": [torch.randn(3, requires_grad=True) for _ in range(5)],  # leaves
        "_private": losses,
        "loss": losses[0],  # one tensor is not a container
    }
    assert autograd_hints(namespace) == []


def test_output_history_holding_a_graph_is_flagged():
    loss = training_losses(1)[0]
    hints = autograd_hints({"Out": {3: loss, 4: "text"}, "In": ["", "loss"]})
    assert [hint["name"] for hint in hints] == ["Out"]
    assert "Out" in hints[0]["message"] and ";" in hints[0]["suggestion"]


def test_huge_lists_are_sampled_from_the_end():
    floats = [0.0] * 2_000_000 + training_losses(3)  # appended last, found first
    started = time.perf_counter()
    hints = autograd_hints({"losses": floats})
    assert time.perf_counter() - started < 0.5
    assert [hint["name"] for hint in hints] == ["losses"]


def test_self_references_and_bad_input_never_raise():
    loop = training_losses(3)
    loop.append(loop)
    assert [hint["name"] for hint in autograd_hints({"loop": loop})] == ["loop"]
    assert autograd_hints(None) == []
    assert autograd_hints({1: [], "x": object()}) == []
