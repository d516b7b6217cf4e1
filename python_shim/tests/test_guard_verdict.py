"""What the pre-run check decides and says (guard/verdict.py, guard/text.py), without a
kernel: the default mode "auto" blocks an exact finding that cannot fit in what the
session can have, and warns about estimates, GPU findings and what needs page cache back;
"warn" and "block" keep their meaning; one call too big for what is free, with the cap off,
is said to be beyond everything but the cap."""
from oomguard.guard import text
from oomguard.guard.verdict import DEFAULT_MODE, judge
from oomguard.predict import Finding

MiB, GiB = 1 << 20, 1 << 30
FREE = {"cpu": 2 * GiB, "limit": 4 * GiB, "page_cache": None}


def finding(peak, *, exact, device="cpu", kind="dense_constructor", free=2 * GiB, line=1,
            size=None):
    # A Finding as the predictor makes it; `exact` is set as an attribute, as the
    # predictor's own field will carry it (getattr semantics: missing means an estimate).
    found = Finding(kind, line, size if size is not None else peak, peak, device,
                    peak > free, f"a {peak >> 20} MiB array", "make it smaller", free)
    found.exact = exact
    return found


def test_auto_is_the_default():
    assert DEFAULT_MODE == "auto"


def test_auto_blocks_an_exact_finding_that_cannot_fit():
    big = finding(3 * GiB, exact=True)
    verdict = judge([big], FREE, "auto", hard_cap=False)
    assert verdict.block and verdict.blocking == [big] and verdict.shown == [big]


def test_auto_only_warns_about_an_estimate_a_gpu_finding_or_a_finding_without_exact():
    estimate = finding(3 * GiB, exact=False)
    gpu = finding(3 * GiB, exact=True, device="cuda:0")
    legacy = Finding("dense_constructor", 1, 3 * GiB, 3 * GiB, "cpu", True, "m", "s")
    for found in (estimate, gpu, legacy):
        verdict = judge([found], {**FREE, "cuda:0": GiB}, "auto", hard_cap=False)
        assert not verdict.block and verdict.shown == [found]


def test_auto_blocks_on_the_exact_finding_and_shows_the_estimates_too():
    estimate, exact = finding(3 * GiB, exact=False, line=1), finding(3 * GiB, exact=True, line=2)
    verdict = judge([estimate, exact], FREE, "auto", hard_cap=False)
    assert verdict.block and verdict.blocking == [exact] and verdict.shown == [estimate, exact]
    said = text.block_text(verdict, FREE)
    assert "line 2 needs 3.0 GiB at peak on cpu (an exact size)" in said
    assert "line 1" not in said  # the block is about what cannot fit


def test_auto_warns_where_only_reclaimable_page_cache_is_in_the_way():
    free = {"cpu": 1800 * MiB, "limit": 2 * GiB, "page_cache": 1500 * MiB}
    fits = finding(GiB, exact=True, free=1800 * MiB)  # not risky: page cache counts as free
    verdict = judge([fits], free, "auto", hard_cap=True)
    assert not verdict.block and verdict.shown == [fits] and verdict.page_cache == 1500 * MiB
    said = text.warning_text(verdict, free)
    assert "only once the kernel reclaims some of the 1.5 GiB of page cache" in said
    small = finding(200 * MiB, exact=True, free=1800 * MiB)  # fits beside the cache
    assert judge([small], free, "auto", hard_cap=True) is None


def test_warn_and_block_keep_their_meaning():
    estimate = finding(3 * GiB, exact=False)
    assert not judge([estimate], FREE, "warn", hard_cap=False).block
    assert judge([estimate], FREE, "block", hard_cap=False).block
    assert judge([estimate], FREE, "off", hard_cap=False) is None
    assert judge([finding(GiB, exact=True)], FREE, "block", hard_cap=False) is None


def test_one_call_too_big_with_the_cap_off_is_said_to_need_the_cap():
    one_call = finding(3 * GiB, exact=False)
    verdict = judge([one_call], FREE, "auto", hard_cap=False)
    assert verdict.single_call
    said = text.warning_text(verdict, FREE)
    assert "Nothing but the hard cap (or not running the cell) can stop it" in said
    assert said.rstrip().endswith("oomguard.enable(hard_cap=True)")
    # With the cap on, or a finding made of many allocations (the watchdog can stop a
    # loop between two of them), or a peak over free but a result under it: not said.
    assert not judge([one_call], FREE, "auto", hard_cap=True).single_call
    many = finding(3 * GiB, exact=False, kind="listcomp")
    assert not judge([many], FREE, "auto", hard_cap=False).single_call
    under = finding(3 * GiB, exact=False, size=GiB)
    assert not judge([under], FREE, "auto", hard_cap=False).single_call
    # Blocked, it says so for "run anyway".
    blocked = judge([finding(3 * GiB, exact=True)], FREE, "auto", hard_cap=False)
    assert "If you run it anyway, nothing but the hard cap" in text.block_text(blocked, FREE)


def test_auto_texts_say_why_and_how_to_run_anyway():
    blocked = judge([finding(3 * GiB, exact=True)], FREE, "auto", hard_cap=True)
    said = text.block_text(blocked, FREE)
    assert said.startswith("oomguard: blocked this cell before it ran: its size is exact")
    assert "2.0 GiB free of a 4.0 GiB limit" in said
    assert "suggestion: make it smaller" in said
    assert "%%oomguard allow" in said and "oomguard.allow_next()" in said
    warned = judge([finding(3 * GiB, exact=False)], FREE, "auto", hard_cap=True)
    said = text.warning_text(warned, FREE)
    assert "(an estimate)" in said and "It runs: oomguard blocks a cell only when" in said


def test_dict_findings_are_judged_alike():
    as_dict = finding(3 * GiB, exact=True).to_dict()
    as_dict["exact"] = True
    assert judge([as_dict], FREE, "auto", hard_cap=False).block
    del as_dict["exact"]
    assert not judge([as_dict], FREE, "auto", hard_cap=False).block
