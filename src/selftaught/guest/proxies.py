"""Stand-ins for ``utility`` and ``language_model`` inside the sandbox.

Every call travels to the host, which counts and enforces the budgets. The attributes here
(``budget``, ``max_responses_per_call``, ``str``, ``uses``) are copies for the program to read; writing
them changes nothing that matters, because the host never asks the guest how much budget is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rpc = Callable[[str, str, list], Any]


class RemoteError(Exception):
    """An error the host answered with (e.g. the call budget is exhausted)."""


class UtilityProxy:
    """``utility(solution) -> float`` with ``.str`` and ``.budget``, as the paper's improvers expect."""

    def __init__(self, rpc: Rpc, description: str, budget: int) -> None:
        self._rpc = rpc
        self.str = description
        self.budget = budget
        self.uses = 0

    def __call__(self, solution: Any, *args: Any, **kwargs: Any) -> float:
        self.uses += 1
        return float(self._rpc("utility", "__call__", [solution if isinstance(solution, str) else None]))

    def feedback(self, solution: Any) -> str:
        """One call of the budget: the validation score and a few validation instances the solution gets
        wrong (arguments, its answer or error, the right answer), as text to put in a prompt."""
        self.uses += 1
        return str(self._rpc("utility", "feedback", [solution if isinstance(solution, str) else None]))


class LanguageModelProxy:
    """``prompt`` and ``batch_prompt`` with ``.budget`` and ``.max_responses_per_call``."""

    def __init__(self, rpc: Rpc, budget: int, max_responses_per_call: int) -> None:
        self._rpc = rpc
        self.budget = budget
        self.max_responses_per_call = max_responses_per_call

    def prompt(self, expertise: str, message: str, n_responses: int = 1, temperature: float = 0.7) -> list[str]:
        return list(self._rpc("language_model", "prompt", [expertise, message, n_responses, temperature]))

    def batch_prompt(self, expertise: str, messages: Any, temperature: float = 0.7) -> list[str]:
        try:
            messages = list(messages)
        except TypeError:
            return []
        return list(self._rpc("language_model", "batch_prompt", [expertise, messages, temperature]))
