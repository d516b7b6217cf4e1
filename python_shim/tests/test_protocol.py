import logging

from oomguard import protocol


def test_builders_carry_version_and_all_fields():
    hello = protocol.hello(shim_version="1", pid=2, interval=0.5, python="3.11", peak_method="hwm")
    assert hello == {"v": 1, "type": "hello", "shim_version": "1", "pid": 2, "interval": 0.5,
                     "python": "3.11", "peak_method": "hwm"}
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
