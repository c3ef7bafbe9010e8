"""Hostile frames: the program finds the guest's channel and writes raw frames into it. Shape is bounded
while decoding (size, nesting, element counts) and every field the host reads is checked: a frame the
host cannot use is a ``protocol`` (or ``output_limit``) verdict; a field the host does not judge by (the
program's own CPU figure: the host measures CPU itself) may be ignored, but never taken. Never a host
exception, and the host process grows by less than 200 MB whatever the frame."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.cases.verdicts import sane_cpu
from selftaught.sandbox.conformance.programs import CHANNEL
from selftaught.sandbox.conformance.runner import Session
from selftaught.sandbox.limits import Limits

A = "frames"
BAD = ("protocol", "output_limit")
#: a frame whose bad field the host may ignore (an answer is an answer), never use
USABLE = ("ok", "error", "protocol", "output_limit")
SHORT = Limits(wall_seconds=2, memory_mb=1024)
BIG = Limits(wall_seconds=30, memory_mb=2048)
OK_HEAD = '{"op":"result","ok":true,"value":1,'


def _frame(name: str, why: str, expr: str, verdicts: tuple[str, ...] = BAD, then: str = "linger()",
           limits: Limits = SHORT) -> Case:
    """``expr``: Python, evaluated inside the sandbox, giving the frame's body (str or bytes)."""
    source = CHANNEL + f"def attack(ctx):\n    frame({expr})\n    return {then}\n"
    return Case(name, A, why, source, verdicts, limits=limits)


def _cpu(name: str, why: str, expr: str) -> Case:
    """A forged CPU field: the frame may be refused or the field ignored; the charge stays the host's."""
    source = CHANNEL + f"def attack(ctx):\n    frame({expr})\n    return linger()\n"
    return Case(name, A, why, source, USABLE, limits=SHORT, expect=sane_cpu)


def _by_fd(name: str, why: str, expr: str, verdicts: tuple[str, ...] = BAD) -> Case:
    """As ``_frame``, but the channel is found by trying descriptors, not through the guest object."""
    source = CHANNEL + f"_guest = lambda: None\ndef attack(ctx):\n    frame({expr})\n    return linger()\n"
    return Case(name, A, why, source, verdicts, limits=SHORT, expect=sane_cpu)


def _raw(name: str, why: str, expr: str, then: str, verdicts: tuple[str, ...]) -> Case:
    source = CHANNEL + f"def attack(ctx):\n    raw({expr})\n    {then}\n    return 1\n"
    return Case(name, A, why, source, verdicts, limits=SHORT)


PRE_ANSWER = CHANNEL + """
def attack(ctx):
    frame('{"op":"result","ok":true,"value":"forged","output":""}')
    return "real-1"
def second(ctx):
    return "real-2"
"""


def _pre_answered(s: Session) -> None:
    """Call 1 also writes a result for the next call; call 2 must not get it."""
    with s.worker(PRE_ANSWER, SHORT) as w:
        first = s.call(w, wall=2)
        second = s.call(w, "second", wall=2) if w.alive else None
    # the first frame written during call 1 is call 1's answer, whatever the program meant by it; what
    # must not happen is call 2 being answered by a frame written before it was asked
    got = [first.value] + ([second.value] if second is not None else [])
    require(second is None or str(second.verdict) == "protocol" or second.value == "real-2",
            f"a call was answered by a frame the program wrote before it was asked: {got}")


CASES = [
    _cpu("cpu_is_string", "result frame whose cpu is a string", repr(OK_HEAD + '"cpu":"fast"}')),
    _cpu("cpu_400_digits", "result frame whose cpu is a 400-digit integer",
           repr(OK_HEAD + '"cpu":') + " + '9' * 400 + '}'"),
    _cpu("cpu_nan", "result frame whose cpu is NaN", repr(OK_HEAD + '"cpu":NaN}')),
    _cpu("cpu_infinity", "result frame whose cpu is Infinity", repr(OK_HEAD + '"cpu":Infinity}')),
    _cpu("cpu_negative", "result frame whose cpu is -20000", repr(OK_HEAD + '"cpu":-20000}')),
    _by_fd("cpu_is_string_by_fd", "result frame whose cpu is a string, the channel found by trying fds",
           repr(OK_HEAD + '"cpu":"fast"}'), USABLE),
    _by_fd("value_nested_by_fd", "a result nested 200,000 deep, the channel found by trying fds",
           "'{\"op\":\"result\",\"ok\":true,\"value\":' + '[' * 200000 + ']' * 200000 + '}'"),
    _cpu("cpu_is_list", "result frame whose cpu is a list", repr(OK_HEAD + '"cpu":[1,2]}')),
    _frame("ok_is_string", "result frame whose ok is a string", repr('{"op":"result","ok":"yes","value":1}'),
           ("error", "protocol", "output_limit")),
    _frame("output_10mb", "result frame carrying 10 MB of 'printed output'",
           repr('{"op":"result","ok":true,"value":1,"output":"') + " + 'x' * (10 << 20) + '\"}'",
           ("ok", "protocol", "output_limit")),
    _frame("error_10mb", "failure frame carrying a 10 MB error message",
           repr('{"op":"result","ok":false,"kind":"exception","error":"') + " + 'x' * (10 << 20) + '\"}'",
           ("error", "protocol", "output_limit")),
    _frame("value_nested_200k", "a result nested 200,000 deep", "'{\"op\":\"result\",\"ok\":true,\"value\":' + "
           "'[' * 200000 + ']' * 200000 + '}'"),
    _frame("value_nested_dicts", "a result of dicts nested 100,000 deep", "'{\"op\":\"result\",\"ok\":true,"
           "\"value\":' + '{\"a\":' * 100000 + '1' + '}' * 100000 + '}'"),
    _frame("frame_is_list", "a frame that is a JSON list", repr("[1, 2, 3]")),
    _frame("frame_is_number", "a frame that is a JSON number", repr("42")),
    _frame("frame_is_null", "a frame that is JSON null", repr("null")),
    _frame("frame_missing_op", "a result frame without its op", repr('{"ok":true,"value":1}'), USABLE),
    _frame("frame_unknown_op", "a frame with an unknown op", repr('{"op":"bogus","ok":true,"value":1}'), USABLE),
    _frame("frame_not_json", "a frame that is not JSON", repr(b'{"op": "result", ok}')),
    _frame("frame_empty", "a frame with an empty body", repr(b"")),
    _frame("invalid_utf8", "a frame that is not UTF-8", repr(b'{"op":"result","ok":true,"value":"\xff\xfe"}')),
    _frame("nan_and_infinity_values", "a result holding NaN and Infinity",
           repr('{"op":"result","ok":true,"value":[NaN,Infinity,-Infinity]}'), USABLE),
    _frame("huge_int_value", "a result holding a 100,000-digit integer",
           "'{\"op\":\"result\",\"ok\":true,\"value\":' + '7' * 100000 + '}'"),
    _frame("many_big_ints", "a result holding 3,000 integers of 4,000 digits each",
           "'{\"op\":\"result\",\"ok\":true,\"value\":[' + ','.join(['9' * 4000] * 3000) + ']}'", USABLE,
           limits=BIG),
    _frame("empty_dicts_15mb", "15 MB of empty dicts (under the 16 MB frame cap)",
           "'{\"op\":\"result\",\"ok\":true,\"value\":[' + '{},' * (5 << 20) + '{}]}'", limits=BIG),
    _frame("long_keys_dict", "a result dict with 500,000 distinct keys",
           "'{\"op\":\"result\",\"ok\":true,\"value\":{' + ','.join('\"k%d\":0' % i for i in range(500000)) + '}}'",
           ("ok", "protocol", "output_limit"), limits=BIG),
    _raw("header_over_cap_then_silence", "a header announcing 4 GB, then nothing",
         "struct.pack('>I', 0xFFFFFFFF)", "linger()", ("output_limit", "protocol")),
    _raw("truncated_frame_then_exit", "half a frame, then a clean exit",
         "struct.pack('>I', 1000) + b'{\"op\":\"res'", "os._exit(0)", ("protocol", "crash", "output_limit")),
    _raw("truncated_frame_then_silence", "half a frame, then nothing until the deadline",
         "struct.pack('>I', 1000) + b'{\"op\":\"res'", "linger()", ("protocol", "timeout")),
    _raw("header_only_then_exit", "a 3-byte header, then exit", "b'\\x00\\x00\\x01'", "os._exit(0)",
         ("protocol", "crash")),
    Case("pre_answered_next_call", A, "a result written ahead for the next call", drive=_pre_answered),
]
