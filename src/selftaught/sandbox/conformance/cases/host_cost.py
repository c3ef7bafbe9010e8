"""What reading a program's frames costs the host (issue 22). A frame is checked and decoded in time
linear in its size, whatever it holds: a 64 KB unterminated string of ``\\"`` cost 22.7 s of host CPU
(a quadratic scan, holding the GIL so no deadline fired), an 8 MB one would have cost days. Here each
hostile frame must cost the host process under a second of CPU (the 8 MB ones under 3 s) and be a
verdict. Brackets and commas inside strings are text: a 5 MB answer full of them is a legal answer. A
6 MB program sent to ``utility`` scores 0 and counts against the budget; the host neither keeps nor
scores it (the engine's size cap, ``MAX_PROGRAM_CHARS``; the checking handler applies the same)."""

from __future__ import annotations

import time
from collections.abc import Callable

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.programs import CHANNEL
from selftaught.sandbox.conformance.rpc import UTILITY, StrictHandler
from selftaught.sandbox.conformance.runner import Session
from selftaught.sandbox.limits import Limits

A = "frames"
BAD = ("protocol", "output_limit")
SMALL = Limits(wall_seconds=5, memory_mb=1024)
BIG = Limits(wall_seconds=30, memory_mb=2048)
HEAD = "b'{\"op\":\"result\",\"ok\":true,\"value\":' + b'[' * 101"
#: the 8 MB frame cap, less room for the header above
NEAR_CAP = 8 * 1024 * 1024 - 200


def _costs_little(expr: str, verdicts: tuple[str, ...], limits: Limits, cpu: float) -> Callable[[Session], None]:
    """Send the frame ``expr`` (Python, evaluated in the sandbox) and time the host process's CPU over
    the whole call (spawn, load, the frame, the verdict): a bound on what judging the frame cost."""
    source = CHANNEL + f"def attack(ctx):\n    frame({expr})\n    return linger()\n"

    def drive(s: Session) -> None:
        with s.worker(source, limits) as w:
            began = time.process_time()
            res = s.call(w, wall=limits.wall_seconds)
            spent = time.process_time() - began
        require(str(res.verdict) in verdicts, f"verdict {res.verdict} ({str(res.error)[:200]}), expected "
                                              f"{'/'.join(verdicts)}")
        require(spent < cpu, f"the host spent {spent:.2f} s of CPU judging one frame (limit {cpu} s)")
    return drive


def _frame(name: str, why: str, expr: str, *, big: bool = False, verdicts: tuple[str, ...] = BAD) -> Case:
    limits, cpu = (BIG, 3.0) if big else (SMALL, 1.0)
    return Case(name, A, why, drive=_costs_little(expr, verdicts, limits, cpu), host_memory_mb=200)


def _huge_utility_argument(s: Session) -> None:
    """A 6 MB program sent to ``utility`` (under the frame cap, over the program cap) scores 0 and
    counts: two more calls exhaust the budget of 3, and a fourth is refused."""
    source = ("def attack(ctx, utility, language_model):\n"
              "    huge = 'def algorithm(xs):\\n    return max(xs)\\n#' + 'x' * (6 << 20)\n"
              "    scores = [utility(huge), utility('def algorithm(xs):\\n    return 1\\n'), utility('x')]\n"
              "    try:\n"
              "        scores.append(utility('x'))\n"
              "    except Exception:\n"
              "        scores.append('refused')\n"
              "    return scores\n")
    handler = StrictHandler()
    res = s.run(source, args=[s.ctx, UTILITY, {"__proxy__": "language_model", "budget": 0,
                                               "max_responses_per_call": 1}], handler=handler, limits=BIG)
    require(str(res.verdict) == "ok", f"verdict {res.verdict} ({str(res.error)[:200]}), expected ok")
    require(res.value == [0.0, 0.5, 0.5, "refused"], f"scores {res.value}: the 6 MB program must score 0 "
                                                     "and count as one of the 3 calls")


CASES = [
    _frame("unterminated_escaped_quotes_64kb", "100 open lists, then a 64 KB string of \\\" never closed",
           HEAD + " + b'\"' + b'\\\\\"' * 32768"),
    _frame("unterminated_escaped_quotes_8mb", "100 open lists, then an 8 MB string of \\\" never closed",
           HEAD + f" + b'\"' + b'\\\\\"' * ({NEAR_CAP} // 2)", big=True),
    _frame("quotes_only_8mb", "100 open lists, then 8 MB of quotes (4 million empty strings)",
           HEAD + f" + b'\"' * {NEAR_CAP}", big=True),
    _frame("bracket_strings_8mb", "8 MB of one-bracket strings and brackets, never closed",
           f"b'{{\"op\":\"result\",\"ok\":true,\"value\":' + b'\"[' * ({NEAR_CAP} // 2)", big=True),
    _frame("escaped_backslashes_8mb", "8 MB of escaped backslashes before quotes and brackets",
           HEAD + f" + b'\"\\\\\\\\\"[' * ({NEAR_CAP} // 5)", big=True),
    _frame("lone_surrogates_8mb", "8 MB of lone surrogate escapes in an unterminated string",
           HEAD + f" + b'\"' + b'\\\\ud800' * ({NEAR_CAP} // 6)", big=True),
    Case("brackets_in_an_answer_5mb", A, "a legal 5 MB answer made of brackets and commas (a string)",
         "def attack(ctx):\n    return '[{,' * 1_700_000\n", ("ok",), limits=BIG,
         contained=lambda v: v == "[{," * 1_700_000),
    Case("utility_argument_6mb", A, "a 6 MB program sent to utility: scores 0, counts as a call",
         drive=_huge_utility_argument),
]
