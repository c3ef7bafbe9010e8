"""A template for your own task: "second largest value of a list".

Check it with: selftaught tasks validate examples/custom_task.py   (lists every problem in one go)
Run it with:   selftaught run --task examples/custom_task.py

A task file defines exactly one ``Task`` subclass (or a module-level ``task = MyTask()``). Only what
``arguments`` returns is sent to the sandboxed solution; the instance itself (with any hidden answer)
stays in the trusted host, where ``score`` runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught import InvalidAnswer, Task


class SecondLargest(Task):
    # The name used on the command line and in the run store.
    name = "second_largest"

    # Shown to the model as `utility.str`. Say exactly what is scored: signature, input sizes,
    # the score rule, and the limits. A model that is told the truth cannot be "surprised" by the checker.
    description = """\
Write `algorithm(xs)` that returns the second largest distinct value of xs, a list of 2 to 50
integers with at least two distinct values. Example: [3, 7, 7, 1] -> 3.
Score: the fraction of 20 lists for which the returned number is exactly right. Anything that is
not a number scores 0 on that list; each call may use at most 0.1 seconds of CPU time.
"""

    # The starting point the improver rewrites: simple, runnable, and clearly improvable.
    # (This one ignores duplicates, so it is wrong whenever the maximum repeats.)
    seed_solution = """\
def algorithm(xs):
    return sorted(xs)[-2]
"""

    entry = "algorithm"  # the function a solution must define
    time_limit = 0.1  # CPU seconds per instance, measured in the sandboxed child
    n_val = 20  # instances the improver may score against
    n_test = 20  # held-out instances, only used to report results

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        # Use ONLY `rng` for randomness: the same run seed must give the same instances.
        # Small values make repeated maxima (the seed's blind spot) common.
        while True:
            xs = rng.integers(0, 10, size=int(rng.integers(2, 51))).tolist()
            if len(set(xs)) >= 2:
                break
        answer = sorted(set(xs))[-2]
        return {"xs": xs, "answer": answer}  # the hidden answer never leaves the host

    def arguments(self, instance: dict[str, Any]) -> tuple[Any, ...]:
        # A tuple of positional arguments: lists, numbers, strings, dicts or numpy arrays.
        return (list(instance["xs"]),)

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        # `answer` arrives as JSON data (numpy values become plain numbers or lists), and it was
        # written by a model: check its type before using it. Raise InvalidAnswer for malformed
        # answers (scores 0, and the reason is recorded); return a float in [0, 1] otherwise.
        # (Compare, never convert: float(10**400) raises, and NaN or inf simply compare unequal.)
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            raise InvalidAnswer(f"expected a number, got {type(answer).__name__}")
        return float(answer == instance["answer"])
