"""Largest element or None: the quick-start task, graded so that better search keeps paying.

Sized for the embedded 135M model, and built so that its score does not saturate at one reply: a list
may be empty (the answer is then ``None``) or all negative, so the usual first fixes score part of it
(``max(xs)`` about 0.8: it raises on the empty lists; a loop that starts from 0 about 0.4), and only a
solution that handles both edge cases scores 1.0. The seed returns the first element (about 0.3). The
135M model rarely writes the full solution from the seed (about 1 reply in 12), but given ``max(xs)``
and the validation cases it gets wrong (``utility.feedback``) it adds the empty-list case in about 10
replies of 16: the improver that refines its best program with feedback beats the one that resamples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks.answers import number
from selftaught.tasks.base import InvalidAnswer, Task

SEED_SOLUTION = '''\
def algorithm(xs):
    return xs[0]
'''


class MaxOrNone(Task):
    """Return the largest element, or None for an empty list; the seed returns the first element."""

    name = "max_or_none"
    description = """\
Write `algorithm(xs)` that returns the largest element of xs, a list of 0 to 20 integers (often all
negative), or None when xs is empty.
Score: the fraction of 20 lists answered exactly.
"""
    seed_solution = SEED_SOLUTION
    reference_solution = "def algorithm(xs):\n    return max(xs) if xs else None\n"
    time_limit = 0.1
    n_val = 20
    n_test = 20

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        kind = rng.random()
        if kind < 0.2:
            return {"xs": []}
        length = int(rng.integers(1, 21))
        low, high = (-1000, -1) if kind < 0.5 else (-1000, 1000)
        return {"xs": rng.integers(low, high + 1, size=length).tolist()}

    def arguments(self, instance: dict[str, Any]) -> tuple[list[int]]:
        return (list(instance["xs"]),)

    def expected(self, instance: dict[str, Any]) -> int | None:
        return max(instance["xs"]) if instance["xs"] else None

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        if not instance["xs"]:
            return float(answer is None)
        if answer is None:
            raise InvalidAnswer("None for a list that is not empty")
        return float(number(answer) == max(instance["xs"]))
