"""Maximum of a list: the quick-start task, sized for the embedded 135M model.

The paper's tasks are out of a 135M model's reach (see docs/embedded_model.md); this one is not: with a
short prompt the model turns the seed (return the first element, about 0.16) into ``max(xs)`` in
every measured run. It exists so a first ``selftaught run`` on a laptop shows the loop working end to
end in minutes, not to measure anything about STOP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks.answers import number
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
def algorithm(xs):
    return xs[0]
'''


class MaxOfList(Task):
    """Return the largest element; the seed returns the first one."""

    name = "max_list"
    # Short on purpose: the tiny model follows a short prompt far better than a long one.
    description = """\
Write `algorithm(xs)` that returns the largest element of xs, a list of 1 to 20 integers.
Score: the fraction of 20 lists for which the returned value equals max(xs).
"""
    seed_solution = SEED_SOLUTION
    reference_solution = "def algorithm(xs):\n    return max(xs)\n"
    time_limit = 0.1
    n_val = 20
    n_test = 20

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        length = int(rng.integers(1, 21))
        return {"xs": rng.integers(-1000, 1001, size=length).tolist()}

    def arguments(self, instance: dict[str, Any]) -> tuple[list[int]]:
        return (list(instance["xs"]),)

    def expected(self, instance: dict[str, Any]) -> int:
        return max(instance["xs"])

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        return float(number(answer) == max(instance["xs"]))
