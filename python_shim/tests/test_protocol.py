import logging

from oomguard import protocol
from oomguard.records import CellRecord


def test_builders_carry_version_and_all_fields():
    hello = protocol.hello(shim_version="1", pid=2, interval=0.5, python="3.11", peak_method="hwm")
    assert hello == {"v": 1, "type": "hello", "shim_version": "1", "pid": 2, "interval": 0.5,
                     "python": "3.11", "peak_method": "hwm", "oom_kills": None,
                     "oom_kills_file": None, "oom_group": None, "oom_group_file": None,
                     "cgroup_peak": None, "cgroup_peak_file": None}
    sample = protocol.sample({"t": 1.0, "rss": 5, "notes": ["x"], "unrelated": 1})
    assert sample["v"] == 1 and sample["type"] == "sample"
    assert set(sample) == {"v", "type", *protocol.SAMPLE_FIELDS}
    assert sample["limit"] is None and sample["limit_source"] == "unknown"
    assert protocol.error("boom") == {"v": 1, "type": "error", "message": "boom"}


def test_a_warning_says_the_guard_setting_that_decided_it():
    # Without a setting (a caller of the older signature) it is what happened to the cell.
    older = protocol.warning([], 3, "c", "block", {"cpu": 1}, 10)
    assert (older["setting"], older["single_call"], older["page_cache"]) == ("block", False, None)
    auto = protocol.warning([], 3, "c", "warn", {}, None, setting="auto", single_call=1,
                            page_cache=5)
    assert (auto["mode"], auto["setting"], auto["single_call"], auto["page_cache"]) == \
        ("warn", "auto", True, 5)


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


def test_malformed_incoming_messages_are_dropped_with_a_warning(caplog, monkeypatch):
    bad = [None, "x", [1], {}, {"type": "refresh"}, {"v": "1", "type": "refresh"},
           {"v": True, "type": "refresh"}, {"v": 2, "type": "refresh"},
           {"v": 1, "type": "nope"}, {"v": 1, "type": 3}, {"v": 1, "type": "open", "client": 5},
           {"v": 1, "type": "settings", "interval": "fast"},
           {"v": 1, "type": "settings", "interval": float("nan")},
           {"v": 1, "type": "settings", "interval": True}, Hostile(v=1)]
    with caplog.at_level(logging.WARNING, logger="oomguard"):
        for message in bad:
            monkeypatch.setattr(protocol, "drop_warnings", protocol.DropWarnings(window=0))
            assert protocol.parse_incoming(message) is None
    assert len(caplog.records) == len(bad)
    assert any("v2" in r.getMessage() for r in caplog.records)


def test_a_flood_of_bad_messages_is_not_a_flood_of_warnings(caplog, monkeypatch):
    warnings = protocol.DropWarnings(window=60)
    monkeypatch.setattr(protocol, "drop_warnings", warnings)
    with caplog.at_level(logging.WARNING, logger="oomguard"):
        for _ in range(500):
            assert protocol.parse_incoming({"v": 1, "type": "nope"}) is None
        assert len(caplog.records) == 1 and "unknown message type 'nope'" in caplog.text
        warnings.window, warnings._quiet_until = 0, 0.0  # the window is over
        protocol.parse_incoming(None)
    assert len(caplog.records) == 2
    assert "(and 499 more since the last such warning)" in caplog.records[1].getMessage()


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


def test_the_requests_read_are_the_schemas():
    assert protocol.INCOMING_TYPES == ("open", "settings", "refresh", "variables",
                                       "predict", "spool")


# --- what the kernel sends stays within what the front end accepts ------------------------
def test_sample_notes_are_said_once_clipped_and_capped():
    notes = [f"GPU {i} does not report its memory use (nvidia-smi)." for i in range(16)]
    notes += ["The GPU lists processes by ids this kernel cannot see."] * 16
    notes += ["x" * 5000, 7, None] + [f"another note {i}" for i in range(5)]
    sent = protocol.sample({"t": 1.0, "notes": notes})["notes"]
    assert len(sent) == protocol.MAX_NOTES
    assert sent[:16] == notes[:16] and sent[16] == notes[16]  # the repeats said once
    assert len(sent[17]) == protocol.MAX_TEXT and sent[17].endswith("\u2026")
    assert sent[18] == "another note 0"  # no non-text kept
    assert sent[-1] == "\u2026 and 4 more notes."  # 23 distinct: 19 shown, then this
    assert protocol.sample({"t": 1.0, "notes": ["a", "b"]})["notes"] == ["a", "b"]


def test_sample_gpus_are_capped_with_their_texts():
    gpu = {"index": 0, "uuid": "u" * 2000, "name": "n" * 2000, "used": 1, "total": 2,
           "process_used": None, "torch_allocated": None, "torch_reserved": None,
           "source": "nvidia-smi"}
    gpus = protocol.sample({"t": 1.0, "gpus": [dict(gpu, index=i) for i in range(70)]})["gpus"]
    assert len(gpus) == protocol.MAX_GPUS and gpus[-1]["index"] == protocol.MAX_GPUS - 1
    assert len(gpus[0]["name"]) == len(gpus[0]["uuid"]) == protocol.MAX_TEXT
    assert protocol.sample({"t": 1.0, "gpus": None})["gpus"] is None


def test_hints_findings_records_and_variables_are_capped():
    hint = {"kind": "growth", "name": "n" * 300, "message": "m" * 3000, "suggestion": "s" * 3000,
            "bytes": 5}
    sent = protocol.hints([hint] * 150)["hints"]
    assert len(sent) == protocol.MAX_HINTS
    assert {len(sent[0][k]) for k in ("message", "suggestion")} == {protocol.MAX_TEXT}
    assert sent[0]["name"] == "n" * 300 and sent[0]["bytes"] == 5 and hint["message"] == "m" * 3000

    found = {"kind": "dense", "line": 1, "bytes": 1, "peak_bytes": 1, "device": "cpu",
             "risky": True, "message": "m" * 3000, "suggestion": "s"}
    record = protocol.cell(CellRecord(
        execution_count=1, cell_id=None, start=1.0, duration=0.1, ram_before=1,
        ram_after=2, ram_peak=3, notes=["n"] * 3 + [str(i) for i in range(30)],
        findings=[found] * 300, gpu=[]).to_dict())["record"]
    assert len(record["notes"]) == protocol.MAX_NOTES and record["notes"][0] == "n"
    assert len(record["findings"]) == protocol.MAX_FINDINGS
    assert len(record["findings"][0]["message"]) == protocol.MAX_TEXT
    for message in (protocol.warning([found] * 300, 1, None, "warn", {"cpu": 1}, 2),
                    protocol.prediction(1, None, [found] * 300, {"cpu": 1}, 2, 0.1)):
        assert len(message["findings"]) == protocol.MAX_FINDINGS
        assert len(message["findings"][0]["message"]) == protocol.MAX_TEXT

    variable = {"name": "v", "type": "t", "bytes": 1, "device": None, "shape": [1] * 40,
                "dtype": None, "shared_with": ["a"] * 150, "truncated": False,
                "notes": ["x"] * 25}
    answer = protocol.variables([variable] * 5001, False, 0.1)
    assert len(answer["variables"]) == protocol.MAX_VARIABLES and answer["truncated"] is True
    first = answer["variables"][0]
    assert first["shape"] is None and len(first["shared_with"]) == protocol.MAX_SHARED
    assert first["notes"] == ["x"]
    assert len(protocol.error("e" * 5000)["message"]) == protocol.MAX_TEXT


def test_hello_cuts_the_cgroup_files_paths_to_the_texts_cap():
    # The paths come from /proc/self/cgroup and the mounts, which the kernel does not
    # choose; a container runtime can make them long.
    long_path = "/sys/fs/cgroup/" + "k" * 5000 + "/memory.events"
    sent = protocol.hello(shim_version="1", pid=1, interval=1.0, python="3.11",
                          peak_method="hwm", oom_kills=0, oom_kills_file=long_path,
                          oom_group=False, oom_group_file=long_path, cgroup_peak=1,
                          cgroup_peak_file=long_path)
    for name in ("oom_kills_file", "oom_group_file", "cgroup_peak_file"):
        assert len(sent[name]) == protocol.MAX_TEXT
        assert sent[name].startswith("/sys/fs/cgroup/k")
    assert sent["pid"] == 1 and sent["oom_kills"] == 0 and sent["cgroup_peak"] == 1
