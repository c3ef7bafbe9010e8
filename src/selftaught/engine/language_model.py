"""The ``language_model`` an improver run holds, served in the host with the paper's budget rules.

Each ``prompt``/``batch_prompt`` call costs one call of ``budget``; past it the program gets the paper's
"budget exceeded" error. A batch may hold at most ``max_responses_per_call`` messages. The counters live
here, in the host: nothing the program does to its proxy's attributes changes them.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from selftaught.models.base import ChatRequest
from selftaught.models.recorder import Recorder
from selftaught.sandbox.executor import RefusedCall

BUDGET_EXCEEDED = "Error: You have exceeded your call budget."
#: Longest expertise / message a program may send (the model's context is far shorter anyway).
MAX_PROMPT_CHARS = 200_000


class LanguageModelService:
    def __init__(self, recorder: Recorder, *, model: str, scope: str, budget: int,
                 max_responses_per_call: int, max_tokens: int, role: str = "improver",
                 draws: str | None = None, stop: tuple[str, ...] = ()) -> None:
        self.recorder = recorder
        self.stop = stop
        self.model = model
        self.scope = scope
        #: Where the model's random draws come from (replay key and seed); ``scope`` when unset.
        self.draws = draws
        self.budget = budget
        self.max_responses_per_call = max_responses_per_call
        self.max_tokens = max_tokens
        self.role = role
        self.calls = 0
        self.responses = 0
        self._lock = threading.Lock()

    def proxy_spec(self) -> dict[str, Any]:
        return {"__proxy__": "language_model", "budget": self.budget,
                "max_responses_per_call": self.max_responses_per_call}

    def _charge(self, n: int) -> None:
        with self._lock:
            if self.calls >= self.budget:
                raise RefusedCall(BUDGET_EXCEEDED)
            if n > self.max_responses_per_call:
                raise RefusedCall(f"AssertionError: at most {self.max_responses_per_call} responses per call "
                                  f"(asked for {n})")
            self.calls += 1
            self.responses += n

    def _complete(self, expertise: str, messages: list[str], temperature: float) -> list[str]:
        requests = [ChatRequest(model=self.model, system=expertise, user=m, temperature=temperature,
                                max_tokens=self.max_tokens, stop=self.stop) for m in messages]
        return [c.text for c in self.recorder.complete_batch(self.scope, requests, role=self.role,
                                                                       draws=self.draws)]

    def prompt(self, expertise: Any, message: Any, n_responses: Any = 1, temperature: Any = 0.7) -> list[str]:
        n = _count(n_responses)
        expertise, message, temp = _text(expertise, "expertise"), _text(message, "message"), _temperature(temperature)
        self._charge(n)
        return self._complete(expertise, [message] * n, temp)

    def batch_prompt(self, expertise: Any, messages: Any, temperature: Any = 0.7) -> list[str]:
        if not isinstance(messages, list) or not messages:
            return []
        expertise, temp = _text(expertise, "expertise"), _temperature(temperature)
        texts = [_text(m, "messages") for m in messages]
        self._charge(len(texts))
        return self._complete(expertise, texts, temp)

    def handle(self, method: str, args: list) -> Any:
        """Serve a program's call, its arguments checked against the paper's interface first."""
        arity = {"prompt": (2, 4), "batch_prompt": (2, 3)}.get(method)
        if arity is None:
            raise RefusedCall(f"language_model has no method {method!r}")
        if not arity[0] <= len(args) <= arity[1]:
            raise RefusedCall(f"TypeError: language_model.{method}() takes {arity[0]} to {arity[1]} arguments "
                              f"({len(args)} given)")
        return self.prompt(*args) if method == "prompt" else self.batch_prompt(*args)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RefusedCall(f"AssertionError: {name} must be strings")
    if len(value) > MAX_PROMPT_CHARS:
        raise RefusedCall(f"AssertionError: {name} longer than {MAX_PROMPT_CHARS} characters")
    return value


def _count(value: Any) -> int:
    """``n_responses``: an integer (or integral float) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RefusedCall("n_responses must be an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise RefusedCall("n_responses must be an integer")
    if value < 1:
        raise RefusedCall(f"n_responses must be at least 1 (got {value})")
    return int(min(value, 10**6))  # the budget check then refuses anything over max_responses_per_call


def _temperature(value: Any) -> float:
    """A finite number, clamped to [0, 2] as the paper's improvers expect."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RefusedCall("temperature must be a number")
    try:
        temp = float(value)
    except OverflowError:
        temp = math.inf
    if not math.isfinite(temp):
        raise RefusedCall("temperature must be a finite number")
    return min(2.0, max(0.0, temp))
