"""Hostile input from the guest: frames bounded before they are decoded, fields validated after.

Everything a program sends is written by the program: the answer, but also the frame around it, which a
program can forge by writing to its channel directly. The host therefore never trusts a field's type,
size or meaning. Shape is bounded *before* ``json.loads`` builds anything (a 15 MB answer of empty dicts
would otherwise cost ~1 GB of host memory), and what comes out is read through typed accessors that
never raise. The CPU time and the verdict of a call are not read from the frame at all: the host
measures them (see ``channel``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from selftaught.sandbox.limits import Verdict

#: Containers (``[`` / ``{``) a frame may hold: each costs the host ~60 bytes once decoded.
MAX_CONTAINERS = 100_000
#: Scalars and containers a frame may hold (counted by separators): each costs ~8-60 bytes (a float
#: written in 4 bytes, ``0.5,``, costs 32 once decoded).
MAX_ITEMS = 500_000
#: Deepest nesting of containers: answers are shallow; deep ones only serve to exhaust recursion.
MAX_DEPTH = 100
#: Longest text field kept from a frame (error messages, tracebacks); printed output has its own bound.
MAX_TEXT = 4000
#: Arguments of one call a program makes to ``utility`` / ``language_model``.
MAX_RPC_ARGS = 8

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the four brackets
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class FrameError(Exception):
    """A frame the host refuses; carries the verdict to record."""

    def __init__(self, verdict: Verdict, error: str) -> None:
        super().__init__(error)
        self.verdict = verdict
        self.error = error


def _depth(body: bytes | bytearray) -> int:
    """Deepest bracket nesting outside strings (only called when there are many brackets)."""
    brackets = _STRING.sub(b'""', body).translate(None, _BRACKETS)
    depth = deepest = 0
    for b in brackets:
        depth += 1 if b in (0x5B, 0x7B) else -1
        deepest = max(deepest, depth)
    return deepest


def decode(body: bytes | bytearray) -> Any:
    """Decode one frame body, refusing (``FrameError``) anything over the shape bounds or not JSON."""
    containers = body.count(b"[") + body.count(b"{")
    if containers > MAX_CONTAINERS or containers + body.count(b",") > MAX_ITEMS:
        raise FrameError(Verdict.OUTPUT, f"the program's answer holds more than {MAX_CONTAINERS} lists/dicts "
                                         f"or {MAX_ITEMS} values")
    if containers > MAX_DEPTH and _depth(body) > MAX_DEPTH:
        raise FrameError(Verdict.PROTOCOL, f"the program's answer is nested more than {MAX_DEPTH} deep")
    if b"\\u" in body and _SURROGATE.search(body):
        body = _LONE_SURROGATE.sub(rb"\\ufffd", body)  # lone surrogates cannot be stored or sent on as UTF-8
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, > 4300-digit ints
        raise FrameError(Verdict.PROTOCOL, f"the program corrupted the channel: {str(exc)[:200]}") from None


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A text field of a frame as a bounded str (anything else: empty)."""
    return value[:limit] if isinstance(value, str) else ""


def seconds(value: Any) -> float | None:
    """A duration a program reported: a finite, non-negative float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def rpc_call(frame: dict[str, Any]) -> tuple[str, str, list[Any]] | None:
    """``(target, method, args)`` of a well-formed call frame, else None."""
    target, method, args = frame.get("target"), frame.get("method"), frame.get("args", [])
    if not (isinstance(target, str) and isinstance(method, str) and isinstance(args, list)):
        return None
    if len(target) > 64 or len(method) > 64 or len(args) > MAX_RPC_ARGS:
        return None
    return target, method, args
