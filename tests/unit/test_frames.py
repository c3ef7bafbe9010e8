"""The host's frame decoder refuses hostile shapes before building them, and never raises otherwise."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from selftaught.sandbox import Verdict, frames


def test_plain_answers_decode_unchanged() -> None:
    value = {"op": "result", "ok": True, "value": [[1, 2.5, "x[y]{z"], {"a": None}], "cpu": 0.1}
    assert frames.decode(json.dumps(value).encode()) == value


@pytest.mark.parametrize("body, verdict", [
    (b"[" * 100_001 + b"]" * 100_001, Verdict.OUTPUT),  # more containers than allowed
    (b"[" * 150 + b"]" * 150, Verdict.PROTOCOL),  # deeper than MAX_DEPTH
    (b'{"op": "result", "value": ' + b"[" * 101 + b"]" * 101 + b"}", Verdict.PROTOCOL),
    (b"[" + b"{}," * 5_000_000 + b"{}]", Verdict.OUTPUT),  # 15 MB of empty dicts
    (b"[" + b"0," * 600_000 + b"0]", Verdict.OUTPUT),  # more values than allowed
    (b'{"op": "result", "cpu": 1' + b"9" * 5000 + b"}", Verdict.PROTOCOL),  # > 4300 digits
    (b"\xff\xfe\x00garbage", Verdict.PROTOCOL),
    (b'{"op": "res', Verdict.PROTOCOL),
])
def test_hostile_shapes_are_verdicts(body: bytes, verdict: Verdict) -> None:
    with pytest.raises(frames.FrameError) as err:
        frames.decode(body)
    assert err.value.verdict is verdict


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = "[" * 500
    assert frames.decode(json.dumps({"value": text}).encode()) == {"value": text}


def test_lone_surrogates_become_replacement_characters() -> None:
    decoded = frames.decode(b'{"error": "a\\ud800b", "ok": "\\ud83d\\ude00"}')
    assert decoded == {"error": "a\ufffdb", "ok": "\U0001F600"}
    decoded["error"].encode("utf-8")  # storable


def test_refusing_a_huge_frame_builds_nothing() -> None:
    body = b"[" + b"{}," * 5_000_000 + b"{}]"
    tracemalloc.start()
    with pytest.raises(frames.FrameError):
        frames.decode(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


@pytest.mark.parametrize("value, expected", [
    (0.25, 0.25), (3, 3.0), ("1.0", None), (True, None), (float("nan"), None), (float("inf"), None),
    (-20000, None), (10**400, None), (None, None),
])
def test_seconds_accepts_only_finite_non_negative_numbers(value, expected) -> None:
    assert frames.seconds(value) == expected


@pytest.mark.parametrize("frame, ok", [
    ({"target": "utility", "method": "__call__", "args": ["x"]}, True),
    ({"target": "utility", "method": "__call__"}, True),
    ({"target": 5, "method": "__call__", "args": []}, False),
    ({"target": "utility", "method": "__call__", "args": {"a": 1}}, False),
    ({"target": "utility", "method": "x" * 100, "args": []}, False),
    ({"target": "utility", "method": "__call__", "args": list(range(50))}, False),
])
def test_rpc_frames_are_checked_for_shape(frame, ok) -> None:
    assert (frames.rpc_call(frame) is not None) is ok


def test_text_fields_are_bounded_strings() -> None:
    assert frames.text("x" * 10_000) == "x" * frames.MAX_TEXT
    assert frames.text(["not", "text"]) == ""
