"""Improver-level handlers: serve ``utility`` and ``language_model`` calls the way the engine does.

The channel checks the frame's structure before any handler runs: the target and the method are names,
the arguments a list. ``StrictHandler`` records every call that reaches it without that structure (the
case then fails) and, like the engine's handlers, refuses calls outside the paper's interface
(``utility(str)``, ``prompt(expertise, message, n_responses, temperature)``, ``batch_prompt(expertise,
messages, temperature)``) and over budget. ``NaiveHandler`` trusts its arguments and chokes on hostile
ones (``int(inf)``, ``args[2]`` of a short list): the host must then stop the program (``protocol``)
instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from selftaught.sandbox.conformance.case import require
from selftaught.sandbox.executor import CallResult, RefusedCall

if TYPE_CHECKING:
    from selftaught.sandbox.conformance.runner import Session

REPLY = "```python\ndef algorithm(x):\n    return x\n```"
UTILITY = {"__proxy__": "utility", "str": "score a solution", "budget": 3}
LANGUAGE_MODEL = {"__proxy__": "language_model", "budget": 4, "max_responses_per_call": 2}


#: Longest program ``utility`` scores, as the engine's cap (``engine.programs.MAX_PROGRAM_CHARS``; a test
#: keeps the two equal): a longer one scores 0 and still counts as a call.
PROGRAM_CHARS = 100_000


def _is_text(x: Any) -> bool:
    return isinstance(x, str) and len(x) <= 1_000_000


def _is_number(x: Any, low: float, high: float) -> bool:
    """A real number in [low, high]; never raises (a 400-digit int does not fit a float)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return (not isinstance(x, float) or math.isfinite(x)) and low <= x <= high


class StrictHandler:
    """Budgets as the engine keeps them (``utility_budget`` calls, ``lm_budget`` prompts)."""

    def __init__(self, utility_budget: int = 3, lm_budget: int = 4, max_responses: int = 2) -> None:
        self.utility_left = utility_budget
        self.lm_left = lm_budget
        self.max_responses = max_responses
        self.bad: list[str] = []  # calls the channel should never have let through
        self.refused: list[str] = []  # calls outside the interface, refused here as the engine does
        self.served: list[tuple[str, str]] = []

    @staticmethod
    def structure_problem(target: Any, method: Any, args: Any) -> str | None:
        """What the channel must have refused before calling any handler, or None."""
        if not isinstance(target, str) or not isinstance(method, str):
            return f"target/method not names: {target!r}.{method!r}"
        if not isinstance(args, list):
            return f"{target}.{method} with args of type {type(args).__name__}"
        return None

    def interface_problem(self, target: str, method: str, args: list) -> str | None:
        """Why this call is outside the paper's interface (the handler refuses it), or None."""
        if target == "utility" and method == "__call__":
            ok = len(args) == 1 and (args[0] is None or isinstance(args[0], str))  # size: scored 0 below
        elif target == "language_model" and method == "prompt":
            ok = (2 <= len(args) <= 4 and _is_text(args[0]) and _is_text(args[1])
                  and (len(args) < 3 or (isinstance(args[2], int) and not isinstance(args[2], bool)
                                         and 1 <= args[2] <= self.max_responses))
                  and (len(args) < 4 or _is_number(args[3], 0.0, 2.0)))
        elif target == "language_model" and method == "batch_prompt":
            ok = (2 <= len(args) <= 3 and _is_text(args[0]) and isinstance(args[1], list)
                  and all(_is_text(m) for m in args[1]) and (len(args) < 3 or _is_number(args[2], 0.0, 2.0)))
        else:
            return f"unknown call {target}.{method}"
        return None if ok else f"{target}.{method} with {repr(args)[:120]}"

    def __call__(self, target: str, method: str, args: list) -> Any:
        problem = self.structure_problem(target, method, args)
        if problem is not None:
            self.bad.append(problem)
            raise RefusedCall(problem)
        problem = self.interface_problem(target, method, args)
        if problem is not None:
            self.refused.append(problem)
            raise RefusedCall(problem)
        self.served.append((target, method))
        if target == "utility":
            if self.utility_left <= 0:
                raise RefusedCall("the utility budget is exhausted")
            self.utility_left -= 1
            return 0.0 if args[0] is None or len(args[0]) > PROGRAM_CHARS else 0.5
        if self.lm_left <= 0:
            raise RefusedCall("the language-model budget is exhausted")
        self.lm_left -= 1
        if method == "prompt":
            return [REPLY] * (args[2] if len(args) > 2 else 1)
        return [REPLY for _ in args[1]]


class NaiveHandler(StrictHandler):
    """Serves without checking values: converts and indexes its arguments as the interface promises
    them, so a hostile value makes it raise (TypeError, ValueError, OverflowError, IndexError)."""

    def __call__(self, target: str, method: str, args: list) -> Any:
        problem = self.structure_problem(target, method, args)
        if problem is not None:
            self.bad.append(problem)
            raise RefusedCall(problem)
        if target == "utility":
            return 0.5 if str(args[0]) else 0.0
        n, temperature = int(args[2]), float(args[3])
        if n > self.max_responses or not 0 <= temperature <= 2:
            raise RefusedCall("over the limits")
        return [REPLY] * n


def served(source: str, verdicts: tuple[str, ...], *, proxies: bool = False, naive: bool = False,
           check: Callable[[CallResult, StrictHandler], str | None] | None = None) -> Callable[[Session], None]:
    """A case scenario: call ``attack(ctx[, utility, language_model])`` served by a fresh handler
    (``NaiveHandler`` if ``naive``, else ``StrictHandler``); the verdict must be one of ``verdicts``, the
    host must not raise, and no call may reach the handler without a call's structure."""
    def drive(s: Session) -> None:
        handler = NaiveHandler() if naive else StrictHandler()
        args = [s.ctx, UTILITY, LANGUAGE_MODEL] if proxies else [s.ctx]
        res = s.run(source, args=args, handler=handler)
        require(str(res.verdict) in verdicts,
                f"verdict {res.verdict} ({str(res.error)[:200]}), expected {'/'.join(verdicts)}; "
                f"value {repr(res.value)[:200]}")
        require(not handler.bad, f"the handler was called with malformed calls: {handler.bad[:3]}")
        problem = check(res, handler) if check is not None else None
        require(problem is None, str(problem))
    return drive
