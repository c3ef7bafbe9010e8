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

#: Largest frame body the host decodes (``channel.MAX_REPLY``; bigger ones are refused unread). Every check
#: below is a fixed number of linear passes (``bytes.count``/``replace``/``translate``, one regex that never
#: backtracks) over at most this many bytes: an 8 MB frame costs the host well under a second of CPU.
MAX_BODY = 8 * 1024 * 1024

# A string once its escapes are gone: a quote, no quote, then a quote or the end (unterminated). It matches at the first attempt at every quote, so a frame of 4 million quotes costs one pass, not 4M passes
# (the previous pattern, ``"(?:[^"\\]|\\.)*"``, failed and restarted at each ``\"`` of an unterminated string:
# quadratic, 23 s of host CPU for 64 KB).
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_CHUNK = 1 << 16
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the four brackets
_OPEN = frozenset(b"[{")
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


def _outside_strings(body: bytes | bytearray) -> bytes:
    """The body with the text of every string removed (``"..."`` becomes ``""``), in linear time and
    bounded memory: escaped backslashes and escaped quotes go first (left to right, as JSON pairs them),
    then each string is a quote, no quote, a quote. Read in chunks so that a body of millions of strings
    never holds millions of pieces at once. Brackets and commas inside strings are text, not structure,
    and must not count against the shape bounds (a 5 MB reply full of brackets is a legal answer). A
    backslash outside a string is not JSON: ``json.loads`` stops there, so what this reads after it does
    not matter."""
    plain = bytes(body).replace(b"\\\\", b"").replace(b'\\"', b"")
    out = bytearray()
    inside = False  # a string opened in an earlier chunk is still open
    for start in range(0, len(plain), _CHUNK):
        chunk = plain[start:start + _CHUNK]
        if inside:
            end = chunk.find(b'"')
            if end < 0:
                continue
            chunk, inside = chunk[end + 1:], False  # its ``""`` was written when it opened
        out += _STRING.sub(b'""', chunk)
        inside = chunk.count(b'"') % 2 == 1
    return bytes(out)


def _too_deep(brackets: bytes) -> bool:
    """Does the bracket sequence nest deeper than ``MAX_DEPTH``? (At most 2 * MAX_CONTAINERS brackets.)"""
    depth = 0
    for b in brackets:
        if b in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _check_shape(body: bytes | bytearray) -> None:
    """Refuse a body over the shape bounds before ``json.loads`` builds anything. The raw counts are an
    upper bound of the structural ones: only when they exceed a bound is the body read string-aware."""
    containers = body.count(b"[") + body.count(b"{")
    if containers <= MAX_DEPTH and containers + body.count(b",") <= MAX_ITEMS:
        return  # cannot nest deeper than it has containers
    structure = _outside_strings(body)
    containers = structure.count(b"[") + structure.count(b"{")
    if containers > MAX_CONTAINERS or containers + structure.count(b",") > MAX_ITEMS:
        raise FrameError(Verdict.OUTPUT, f"the program's answer holds more than {MAX_CONTAINERS} lists/dicts "
                                         f"or {MAX_ITEMS} values")
    brackets = structure.translate(None, _BRACKETS)
    if len(brackets) > 2 * containers:
        raise FrameError(Verdict.PROTOCOL, "the program corrupted the channel: unbalanced brackets")
    if containers > MAX_DEPTH and _too_deep(brackets):
        raise FrameError(Verdict.PROTOCOL, f"the program's answer is nested more than {MAX_DEPTH} deep")


def decode(body: bytes | bytearray) -> Any:
    """Decode one frame body, refusing (``FrameError``) anything over the size or shape bounds or not
    JSON. Linear in the body's size; a bad frame is a ``FrameError``, never another exception."""
    if len(body) > MAX_BODY:
        raise FrameError(Verdict.OUTPUT, f"the program sent {len(body)} bytes, more than the {MAX_BODY} allowed")
    _check_shape(body)
    if b"\\u" in body and _SURROGATE.search(body):
        body = _LONE_SURROGATE.sub(rb"\\ufffd", body)  # lone surrogates cannot be stored or sent on as UTF-8
    try:
        return json.loads(body)
    except (ValueError, RecursionError, MemoryError) as exc:  # JSONDecodeError, UnicodeDecodeError, big ints
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
