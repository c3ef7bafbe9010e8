"""The host's frame decoder refuses hostile shapes before building them, and never raises otherwise."""

from __future__ import annotations

import json
import time
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


HEAD = b'{"op":"result","ok":true,"value":'


def _hostile(size: int) -> dict[str, bytes]:
    """Frames of about ``size`` bytes aimed at the shape checks (all past the bracket fast path)."""
    deep = HEAD + b"[" * 101
    return {
        "unterminated string of escaped quotes": deep + b'"' + b'\\"' * (size // 2),
        "only quotes": deep + b'"' * size,
        "strings of one bracket": HEAD + b'"[' * (size // 2),
        "escaped backslashes before quotes": deep + b'"\\\\"[' * (size // 5),
        "unterminated string ending in a backslash": deep + b'"' + b"x" * size + b"\\",
        "closing brackets": deep + b"]" * size,
        "lone surrogates": deep + b'"' + b"\\ud800" * (size // 6),
        "list of bracket strings": HEAD + b"[" + b'"[",' * (size // 4) + b'""]}',
        "integers of 4,299 digits (quadratic to convert, each)": HEAD + b"[" + b",".join(
            [b"9" * 4299] * (size // 4400)) + b"]}",
    }


@pytest.mark.parametrize("size, limit", [(64 * 1024, 0.05), (frames.MAX_BODY - 200, 2.0)])
def test_hostile_frames_cost_linear_cpu(size: int, limit: float) -> None:
    """Issue 22: 64 KB of an unterminated string of ``\\"`` cost 22.7 s (a quadratic regex); every frame
    check is now a few linear passes: < 50 ms for 64 KB, < 2 s for the 8 MB cap."""
    for name, body in _hostile(size).items():
        assert len(body) <= frames.MAX_BODY
        began = time.process_time()
        try:
            frames.decode(body)  # a legal frame (the list of strings at 64 KB) decodes
        except frames.FrameError as err:  # anything else is a verdict, never another exception
            assert err.verdict in (Verdict.PROTOCOL, Verdict.OUTPUT), name
        spent = time.process_time() - began
        assert spent < limit, f"{name}: {spent:.3f} s of CPU for {len(body)} bytes"


def test_brackets_and_commas_inside_strings_do_not_count() -> None:
    """A 5 MB reply full of brackets and commas is a legal answer: only structure counts."""
    reply = "[{,}]" * (1 << 20)
    value = {"op": "result", "ok": True, "value": [reply, 'q"[', "\\[", reply[:1000]]}
    body = json.dumps(value).encode()
    began = time.process_time()
    assert frames.decode(body) == value
    assert time.process_time() - began < 2.0


def test_structure_after_strings_is_still_counted() -> None:
    strings = b'"\\"[\\\\",' * 1000  # escaped quotes and backslashes inside, no structure
    with pytest.raises(frames.FrameError) as err:
        frames.decode(HEAD + b"[" + strings + b"[" * 150 + b"]" * 151 + b"}")
    assert err.value.verdict is Verdict.PROTOCOL
    assert "nested more than" in err.value.error
    with pytest.raises(frames.FrameError) as err:
        frames.decode(HEAD + b"[" + strings + b"[]," * 100_001 + b"1]}")
    assert err.value.verdict is Verdict.OUTPUT


def test_over_the_size_cap_is_refused_unread() -> None:
    with pytest.raises(frames.FrameError) as err:
        frames.decode(b'"' + b"x" * frames.MAX_BODY + b'"')
    assert err.value.verdict is Verdict.OUTPUT
