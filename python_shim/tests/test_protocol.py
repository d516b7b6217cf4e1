import logging

from oomguard import protocol


def test_builders_carry_version_and_all_fields():
    hello = protocol.hello(shim_version="1", pid=2, interval=0.5, python="3.11", peak_method="hwm")
    assert hello == {"v": 1, "type": "hello", "shim_version": "1", "pid": 2, "interval": 0.5,
                     "python": "3.11", "peak_method": "hwm", "oom_kills": None,
                     "oom_kills_file": None}
    sample = protocol.sample({"t": 1.0, "rss": 5, "notes": ["x"], "unrelated": 1})
    assert sample["v"] == 1 and sample["type"] == "sample"
    assert set(sample) == {"v", "type", *protocol.SAMPLE_FIELDS}
    assert sample["limit"] is None and sample["limit_source"] == "unknown"
    assert protocol.error("boom") == {"v": 1, "type": "error", "message": "boom"}


def test_valid_incoming_messages_are_normalised():
    assert protocol.parse_incoming({"v": 1, "type": "open", "client": "lab"}) == \
        {"type": "open", "client": "lab"}
    assert protocol.parse_incoming({"v": 1, "type": "refresh", "extra": 1}) == {"type": "refresh"}
    assert protocol.parse_incoming({"v": 1, "type": "settings", "interval": 0.01}) == \
        {"type": "settings", "interval": 0.1}
    assert protocol.parse_incoming({"v": 1, "type": "settings", "interval": 600})["interval"] == 60
    assert protocol.parse_incoming({"v": 1, "type": "settings"}) == \
        {"type": "settings", "interval": None}


class Hostile(dict):
    def get(self, *args):
        raise RuntimeError("no")


def test_malformed_incoming_messages_are_dropped_with_a_warning(caplog):
    bad = [None, "x", [1], {}, {"type": "refresh"}, {"v": "1", "type": "refresh"},
           {"v": True, "type": "refresh"}, {"v": 2, "type": "refresh"},
           {"v": 1, "type": "nope"}, {"v": 1, "type": 3}, {"v": 1, "type": "open", "client": 5},
           {"v": 1, "type": "settings", "interval": "fast"},
           {"v": 1, "type": "settings", "interval": float("nan")},
           {"v": 1, "type": "settings", "interval": True}, Hostile(v=1)]
    with caplog.at_level(logging.WARNING, logger="oomguard"):
        for message in bad:
            assert protocol.parse_incoming(message) is None
    assert len(caplog.records) == len(bad)
    assert any("v2" in r.getMessage() for r in caplog.records)


def test_spool_requests_carry_only_a_pid_and_a_time():
    assert protocol.parse_incoming({"v": 1, "type": "spool", "pid": 42, "since": 1700000000.5}) == \
        {"type": "spool", "pid": 42, "since": 1700000000.5}
    assert protocol.parse_incoming({"v": 1, "type": "spool", "pid": 42}) == \
        {"type": "spool", "pid": 42, "since": None}
    for bad in ({"pid": "../../etc/passwd"}, {"pid": 0}, {"pid": -3}, {"pid": 1.5},
                {"pid": True}, {"pid": 2 ** 40}, {"pid": 7, "since": "yesterday"},
                {"pid": 7, "since": -1}, {"pid": 7, "since": float("nan")}):
        assert protocol.parse_incoming({"v": 1, "type": "spool", **bad}) is None, bad


def test_sizes_keep_the_largest_names_and_say_when_some_were_left_out():
    found = {f"v{i}": i for i in range(protocol.MAX_SIZES + 10)}
    found["unmeasured"] = None
    message = protocol.sizes(7, found, False)
    assert message["type"] == "sizes" and message["execution_count"] == 7
    assert len(message["sizes"]) == protocol.MAX_SIZES
    assert min(message["sizes"].values()) == 10  # the ten smallest (and None) left out
    assert message["truncated"] is True
    small = protocol.sizes(None, {"a": 1, "b": None}, False)
    assert small["sizes"] == {"a": 1, "b": None} and small["truncated"] is False


def test_sizes_cut_long_names_at_their_own_cap():
    long_name = "n" * (protocol.MAX_NAME + 50)
    message = protocol.sizes(1, {long_name: 8}, False)
    assert list(message["sizes"]) == ["n" * protocol.MAX_NAME]
    assert protocol.MAX_NAME == 200  # within what src/protocol.ts accepts as text (1000)


def test_caps_the_front_end_checks_are_defined_here_once():
    # src/protocol.ts: MAX_FINDINGS, MAX_SPOOL_SAMPLES, MAX_SPOOL_CELLS.
    assert (protocol.MAX_FINDINGS, protocol.MAX_SPOOL_SAMPLES, protocol.MAX_SPOOL_CELLS) == \
        (200, 5000, 2000)
