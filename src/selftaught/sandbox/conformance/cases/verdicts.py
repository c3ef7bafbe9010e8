"""Forged verdicts: a verdict is decided from exit status, signals and cgroup events, never from what
the program says. Raising MemoryError without allocating is an ``error``, not ``oom``; a hand-written
result frame claiming ``oom`` or a made-up CPU time gets neither."""

from __future__ import annotations

import math

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.cases.clocks import BURN_S, charged
from selftaught.sandbox.conformance.programs import BURN, CHANNEL
from selftaught.sandbox.executor import CallResult
from selftaught.sandbox.limits import Limits

A = "verdicts"
NOT_OOM = ("error", "protocol", "crash", "timeout")
SHORT = Limits(wall_seconds=3, memory_mb=1024)


def sane_cpu(res: CallResult) -> str | None:
    cpu = res.cpu_seconds
    if not isinstance(cpu, float) or not math.isfinite(cpu) or cpu < 0 or cpu > 60:
        return f"the program's own CPU figure was taken: {cpu!r}"
    return None


def _frame_case(name: str, why: str, frame: str, after: str = "linger()", verdicts=NOT_OOM, expect=sane_cpu,
                prelude: str = "") -> Case:
    source = CHANNEL + BURN + f"def attack(ctx):\n{prelude}    frame({frame!r})\n    return {after}\n"
    return Case(name, A, why, source, verdicts, limits=SHORT, expect=expect)


OOM_FRAME = '{"op":"result","ok":false,"kind":"oom","error":"MemoryError: forged","cpu":0.0,"output":""}'

CASES = [
    Case("raise_memory_error", A, "raise MemoryError without allocating",
         "def attack(ctx):\n    raise MemoryError('pretend')\n", ("error",)),
    Case("raise_memory_error_subclass", A, "raise a subclass of MemoryError",
         "class Fake(MemoryError):\n    pass\ndef attack(ctx):\n    raise Fake('oom')\n", ("error",)),
    Case("memory_error_at_load", A, "raise MemoryError from the program's top level",
         "raise MemoryError('at load')\n", ("error",), phase="load"),
    Case("memory_error_after_catching", A, "catch a real MemoryError, then re-raise it from a fresh frame",
         "def attack(ctx):\n    try:\n        raise MemoryError()\n    except MemoryError as e:\n"
         "        raise MemoryError('again') from e\n", ("error",)),
    _frame_case("frame_claims_oom", "a hand-written result frame claiming oom, then stays alive", OOM_FRAME),
    _frame_case("frame_claims_oom_then_exits", "a result frame claiming oom, then a clean exit", OOM_FRAME,
                after="os._exit(0)"),
    _frame_case("frame_claims_oom_then_sigkill", "a result frame claiming oom, then SIGKILL to itself",
                OOM_FRAME, after="os.kill(os.getpid(), 9)"),
    _frame_case("frame_claims_huge_cpu", "a result frame claiming 123456 s of CPU",
                '{"op":"result","ok":true,"value":1,"cpu":123456.0,"output":""}',
                verdicts=("ok", "error", "protocol")),
    _frame_case("frame_claims_no_cpu", "a result frame claiming no CPU after a 0.3 s burn",
                '{"op":"result","ok":true,"value":1,"cpu":0.0,"output":""}', verdicts=("ok", "error", "protocol"),
                expect=charged(), prelude=f"    burn({BURN_S})\n"),
    Case("patched_failure_kind", A, "the guest's failure report patched to say oom, then an ordinary error",
         "import gc\ndef attack(ctx):\n    for o in gc.get_objects():\n        try:\n"
         "            if hasattr(o, 'chan_out') and hasattr(o, 'send') and not isinstance(o, type):\n"
         "                cls = type(o)\n                send = cls.send\n"
         "                cls.send = lambda self, obj, _s=send: _s(self, dict(obj, kind='oom') "
         "if isinstance(obj, dict) else obj)\n        except Exception:\n            pass\n"
         "    raise ValueError('ordinary')\n", ("error",)),
]
