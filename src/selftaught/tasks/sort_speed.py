"""Sort fast: a second easy task, scored on speed as well as correctness.

The seed is an insertion sort (O(n^2) in pure Python); lists have 1000..2000 integers, so the seed
takes about 10-50 ms per list and ``sorted(xs)`` well under 1 ms.

Speed must be measured where the solution runs: the engine measures each call's CPU time in the
sandboxed child, and ``score(instance, answer)`` has no time argument. So ``score`` rates correctness
only, and ``score_with_time`` is the speed-scored rule, 1 / (1 + 100 t) for a correct answer, which
``SolutionScorer`` calls with the measured CPU seconds whenever a task defines it (as the description
says). It is the quick-start's transfer task: the 135M model can write ``sorted(xs)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selftaught.tasks.answers import flat_list, number
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
def algorithm(xs):
    xs = list(xs)
    for i in range(1, len(xs)):
        key = xs[i]
        j = i - 1
        while j >= 0 and xs[j] > key:
            xs[j + 1] = xs[j]
            j -= 1
        xs[j + 1] = key
    return xs
'''


class SortSpeed(Task):
    """Sort a list of integers correctly and quickly."""

    name = "sort_speed"
    description = """\
Write `algorithm(xs)` that returns the integers of xs (a list of 1000 to 2000 ints) sorted in
increasing order, as a list, as fast as possible.
Score per list: 1 / (1 + 100 * t), where t is the CPU seconds the call took, if the result equals
sorted(xs); 0 otherwise or after 1 second. The utility is the mean over 20 lists.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 1.0
    n_val = 20
    n_test = 20

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        length = int(rng.integers(1000, 2001))
        return {"xs": rng.integers(-1_000_000, 1_000_001, size=length).tolist()}

    def arguments(self, instance: dict[str, Any]) -> tuple[list[int]]:
        return (list(instance["xs"]),)

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        """1.0 if the answer is exactly ``sorted(xs)`` (correctness only; see ``score_with_time``)."""
        expected = sorted(instance["xs"])
        values = flat_list(answer, len(expected), "the sorted list")
        return float([number(v, "each element") for v in values] == expected)

    def score_with_time(self, instance: dict[str, Any], answer: Any, cpu_seconds: float) -> float:
        """The speed-scored rule: correctness times 1 / (1 + 100 t), t = the call's CPU seconds."""
        if not isinstance(cpu_seconds, (int, float)) or not math.isfinite(cpu_seconds) or cpu_seconds < 0:
            raise ValueError(f"cpu_seconds must be a finite non-negative number, got {cpu_seconds!r}")
        return self.score(instance, answer) / (1.0 + 100.0 * cpu_seconds)
