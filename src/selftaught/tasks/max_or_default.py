"""Largest element or a default: the quick-start task, graded so that more search keeps paying.

Sized for the embedded 135M model, and built so that one reply rarely settles it: a list may be empty
(the answer is then the ``default`` argument) or all negative, so the usual first fixes score part of it
(``max(xs)`` about 0.8: it raises on the empty lists; a loop that starts from 0 less), and only a solution
that handles both edge cases scores 1.0. The seed returns the first element (about 0.15). Measured on the
135M model at temperature 0.2 (24 replies to the seed's prompt): 13 score 0, 10 about 0.65, 1 scores 1.0,
so each extra reply has a fair chance to beat the best so far and the best of several keeps rising. No
constant answer scores above 0: the default differs from call to call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks.answers import number
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
def algorithm(xs, default):
    return xs[0]
'''


class MaxOrDefault(Task):
    """Return the largest element, or ``default`` for an empty list; the seed returns the first element."""

    name = "max_or_default"
    description = """\
Write `algorithm(xs, default)` that returns the largest element of xs, a list of 0 to 20 integers (often
all negative), or default when xs is empty.
Score: the fraction of 20 calls answered exactly.
"""
    seed_solution = SEED_SOLUTION
    reference_solution = "def algorithm(xs, default):\n    return max(xs) if xs else default\n"
    time_limit = 0.1
    n_val = 20
    n_test = 20

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        kind = rng.random()
        default = int(rng.integers(-1000, 1001))
        if kind < 0.2:
            return {"xs": [], "default": default}
        length = int(rng.integers(1, 21))
        low, high = (-1000, -1) if kind < 0.5 else (-1000, 1000)
        return {"xs": rng.integers(low, high + 1, size=length).tolist(), "default": default}

    def arguments(self, instance: dict[str, Any]) -> tuple[list[int], int]:
        return list(instance["xs"]), int(instance["default"])

    def expected(self, instance: dict[str, Any]) -> int:
        return max(instance["xs"]) if instance["xs"] else int(instance["default"])

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        return float(number(answer) == self.expected(instance))
