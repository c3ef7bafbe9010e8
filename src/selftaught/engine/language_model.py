"""The ``language_model`` an improver run holds, served in the host with the paper's budget rules.

Each ``prompt``/``batch_prompt`` call costs one call of ``budget``; past it the program gets the paper's
"budget exceeded" error. A batch may hold at most ``max_responses_per_call`` messages. The counters live
here, in the host: nothing the program does to its proxy's attributes changes them.
"""

from __future__ import annotations

import threading
from typing import Any

from selftaught.models.base import ChatRequest
from selftaught.models.recorder import Recorder
from selftaught.sandbox.executor import RefusedCall

BUDGET_EXCEEDED = "Error: You have exceeded your call budget."


class LanguageModelService:
    def __init__(self, recorder: Recorder, *, model: str, scope: str, budget: int,
                 max_responses_per_call: int, max_tokens: int, role: str = "improver",
                 draws: str | None = None) -> None:
        self.recorder = recorder
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

    def _complete(self, expertise: Any, messages: list[Any], temperature: Any) -> list[str]:
        if not isinstance(expertise, str) or not all(isinstance(m, str) for m in messages):
            raise RefusedCall("AssertionError: expertise and messages must be strings")
        try:
            temp = min(2.0, max(0.0, float(temperature)))
        except (TypeError, ValueError):
            raise RefusedCall("temperature must be a number") from None
        requests = [ChatRequest(model=self.model, system=expertise, user=m, temperature=temp,
                                max_tokens=self.max_tokens) for m in messages]
        return [c.text for c in self.recorder.complete_batch(self.scope, requests, role=self.role,
                                                                       draws=self.draws)]

    def prompt(self, expertise: Any, message: Any, n_responses: Any = 1, temperature: Any = 0.7) -> list[str]:
        try:
            n = int(n_responses)
        except (TypeError, ValueError):
            raise RefusedCall("n_responses must be an integer") from None
        self._charge(n)
        return self._complete(expertise, [message] * max(n, 0), temperature)

    def batch_prompt(self, expertise: Any, messages: Any, temperature: Any = 0.7) -> list[str]:
        messages = list(messages) if isinstance(messages, list) else []
        if not messages:
            return []
        self._charge(len(messages))
        return self._complete(expertise, messages, temperature)

    def handle(self, method: str, args: list) -> Any:
        if method == "prompt":
            return self.prompt(*args[:4])
        if method == "batch_prompt":
            return self.batch_prompt(*args[:3])
        raise RefusedCall(f"language_model has no method {method!r}")
