"""Forged CPU clocks: the CPU time a call is charged is measured outside the program. A program that
replaces the clock functions, the guest's clock module or the guest's reply, then burns ~0.3 s of CPU,
is charged at least 0.2 s; CPU burnt by a background thread between calls is charged too; and a burn
past the worker's CPU limit still ends in ``cpu`` whatever the clocks say."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.programs import BURN
from selftaught.sandbox.conformance.runner import Session
from selftaught.sandbox.executor import CallResult
from selftaught.sandbox.limits import Limits

A = "clocks"
BURN_S = 0.3
CHARGED = 0.2
LIM = Limits(wall_seconds=20, memory_mb=1024)
CPU1 = Limits(wall_seconds=20, cpu_seconds=1, memory_mb=1024)


def charged(at_least: float = CHARGED) -> Callable[[CallResult], str | None]:
    def check(res: CallResult) -> str | None:
        cpu = res.cpu_seconds
        if not isinstance(cpu, float) or not math.isfinite(cpu) or cpu < at_least:
            return f"charged {cpu!r} s of CPU for a {BURN_S} s burn (at least {at_least} expected)"
        return None
    return check


def _forged(name: str, why: str, patch: str, tiers: str = "ABC") -> Case:
    source = BURN + patch + f"def attack(ctx):\n    burn({BURN_S})\n    return 'burnt'\n"
    return Case(name, A, why, source, ("ok",), tiers, limits=LIM, expect=charged())


PATCH_TIME = "import time\ntime.process_time = lambda: 0.0\ntime.process_time_ns = lambda: 0\n"
PATCH_THREAD = "import time\ntime.thread_time = lambda: 0.0\ntime.thread_time_ns = lambda: 0\n"
PATCH_RUSAGE = ("import resource\n"
                "class _Fake:\n    def __getattr__(self, k):\n        return 0.0\n"
                "resource.getrusage = lambda who: _Fake()\n")
PATCH_TIMES = "import os\nos.times = lambda: os.times_result((0.0, 0.0, 0.0, 0.0, 0.0))\n"
PATCH_MODULE = ("import sys, types\nfake = types.ModuleType('time')\nimport time as _t\n"
                "fake.__dict__.update(_t.__dict__)\nfake.process_time = lambda: 0.0\nfake.perf_counter = lambda: 0.0\n"
                "fake.monotonic = _t.monotonic\nsys.modules['time'] = fake\n"
                "for m in list(sys.modules.values()):\n    try:\n        if getattr(m, 'time', None) is _t:\n"
                "            m.time = fake\n    except Exception:\n        pass\n")
PATCH_BACKWARDS = ("import time, os, resource, itertools\n_n = itertools.count()\n"
                   "time.process_time = lambda: 20000.0 - 20000.0 * next(_n)\n"
                   "time.thread_time = time.process_time\n")
PATCH_REPLY = ("import gc\nfor _o in gc.get_objects():\n    try:\n"
               "        if hasattr(_o, 'chan_out') and hasattr(_o, 'send') and not isinstance(_o, type):\n"
               "            _cls = type(_o)\n            _send = _cls.send\n"
               "            def _forge(self, obj, _send=_send):\n"
               "                if isinstance(obj, dict):\n                    obj = dict(obj, cpu=0.0)\n"
               "                return _send(self, obj)\n            _cls.send = _forge\n"
               "    except Exception:\n        pass\n")
PATCH_ALL = PATCH_TIME + PATCH_THREAD + PATCH_RUSAGE + PATCH_TIMES


THREADED = """
import threading, time as _tm
done = threading.Event()
def _burner(seconds):
    burn_thread(seconds)
    done.set()
def start(ctx, seconds):
    threading.Thread(target=_burner, args=(seconds,), daemon=True).start()
    return 'started'
def finished(ctx):
    return done.is_set()
def wait_sleeping(ctx):
    done.wait(20)
    return done.is_set()
"""


def _thread_between_calls(s: Session) -> None:
    """Call 1 starts a thread that burns 0.4 s while no call runs; short later calls ask whether it is
    done. However busy the machine, the burn happens between calls, and the calls must be charged it."""
    with s.worker(BURN + THREADED, LIM) as w:
        calls = [s.call(w, "start", [s.ctx, 0.4])]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.3)
            calls.append(s.call(w, "finished"))
            if calls[-1].value is True:
                break
    require(all(c.ok for c in calls) and calls[-1].value is True, f"calls failed: {[c.verdict for c in calls]}")
    total = sum(c.cpu_seconds for c in calls)
    require(total >= CHARGED, f"a background thread burnt 0.4 s of CPU between calls; they were charged {total:.3f} s")


def _thread_during_sleep(s: Session) -> None:
    """Call 1 starts a thread burning 0.4 s (clocks patched); call 2 only sleeps until it is done."""
    with s.worker(BURN + PATCH_TIME + THREADED, LIM) as w:
        s.call(w, "start", [s.ctx, 0.4])
        second = s.call(w, "wait_sleeping")
    require(second.ok and second.value is True, f"call 2: {second.verdict} ({second.error})")
    require(second.cpu_seconds >= CHARGED,
            f"a thread burnt CPU during a sleeping call; it was charged {second.cpu_seconds:.3f} s")


CASES = [
    Case("honest_burn", A, "control: an honest 0.3 s burn is charged between 0.2 s and its wall time",
         BURN + f"def attack(ctx):\n    burn({BURN_S})\n    return 'burnt'\n", limits=LIM,
         expect=lambda r: charged()(r) or (None if r.cpu_seconds <= r.wall_seconds * 4 + 0.1
                                           else f"charged {r.cpu_seconds} s in {r.wall_seconds} s of wall time")),
    _forged("patched_process_time", "time.process_time replaced by a constant", PATCH_TIME),
    _forged("patched_thread_time", "time.thread_time replaced by a constant", PATCH_THREAD),
    _forged("patched_getrusage", "resource.getrusage replaced by a zero struct", PATCH_RUSAGE),
    _forged("patched_os_times", "os.times replaced by zeros", PATCH_TIMES),
    _forged("patched_every_clock", "every clock function the program can reach replaced", PATCH_ALL),
    _forged("patched_time_module", "a fake time module in sys.modules and in every module's namespace",
            PATCH_MODULE),
    _forged("clock_runs_backwards", "a clock that runs backwards (a charge of -20000 s)", PATCH_BACKWARDS),
    _forged("patched_guest_reply", "the guest's own reply rewritten to claim no CPU", PATCH_REPLY),
    Case("thread_burn_between_calls", A, "CPU burnt by a thread between two calls", tiers="ABC",
         drive=_thread_between_calls),
    Case("thread_burn_during_sleep", A, "CPU burnt by a thread while the call only sleeps", tiers="ABC",
         drive=_thread_during_sleep),
    Case("forged_clock_over_rlimit", A, "clocks patched, then a burn past the worker's CPU limit",
         BURN + PATCH_ALL + "def attack(ctx):\n    burn(30)\n    return 'done'\n", ("cpu",), limits=CPU1),
    Case("forged_clock_threads_over_rlimit", A, "clocks patched, two threads burning past the CPU limit",
         BURN + PATCH_ALL + "import threading\ndef attack(ctx):\n"
         "    threading.Thread(target=burn_thread, args=(30,), daemon=True).start()\n    burn_thread(30)\n",
         ("cpu",), limits=CPU1),
]
