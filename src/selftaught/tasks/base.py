"""The task API: one small class a user subclasses to bring a downstream problem.

A task is everything the *host* knows about a problem: how to draw instances, how to check an answer,
the time limit, the text shown to the model and the seed solution. Only ``arguments(instance)`` ever
crosses into the sandbox; the instance itself (with its hidden answer) never does.

Minimal example (see ``examples/custom_task.py``)::

    class MaxOfList(Task):
        name = "max_list"
        description = "algorithm(xs: list[int]) -> int must return the largest element of xs."
        seed_solution = "def algorithm(xs):\\n    return xs[0]\\n"
        time_limit = 0.1

        def generate(self, rng):
            xs = rng.integers(-100, 100, size=int(rng.integers(1, 20))).tolist()
            return {"xs": xs}

        def arguments(self, instance):
            return (instance["xs"],)

        def score(self, instance, answer):
            return float(answer == max(instance["xs"]))
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

Split = Literal["val", "test"]
SPLIT_CODES: dict[str, int] = {"val": 1, "test": 2}


class _Unknown:
    """The type of ``UNKNOWN``: a task that cannot name the right answer (None may be a right answer)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class InvalidAnswer(Exception):
    """Raised by ``Task.score`` when an answer has the wrong type, shape or values (scores 0)."""


class Task:
    """Base class for downstream tasks. Subclass it and fill in the class attributes and methods."""

    #: Unique short name (``selftaught run --task NAME``).
    name: ClassVar[str] = ""
    #: The text shown to the model as ``utility.str``: it must describe what is really scored.
    description: ClassVar[str] = ""
    #: Python source of the seed solution; it must define the function named ``entry``.
    seed_solution: ClassVar[str] = ""
    #: Optional known-good solution (never shown to improvers): the smoke gate's scripted model answers
    #: with it to check that a candidate improver can return a working program. Unset: the seed.
    reference_solution: ClassVar[str | None] = None
    #: Name of the function a solution must define.
    entry: ClassVar[str] = "algorithm"
    #: CPU-seconds allowed per instance (measured as CPU time of the sandboxed child, see docs/tasks.md).
    time_limit: ClassVar[float] = 1.0
    #: Number of validation instances (seen by improvers) and held-out test instances (never seen).
    n_val: ClassVar[int] = 20
    n_test: ClassVar[int] = 20

    def generate(self, rng: np.random.Generator) -> Any:
        """Draw one instance (any picklable value; may hold the hidden answer)."""
        raise NotImplementedError

    def arguments(self, instance: Any) -> tuple[Any, ...]:
        """The positional arguments passed to the solution's ``entry`` function (JSON/ndarray only)."""
        raise NotImplementedError

    def score(self, instance: Any, answer: Any) -> float:
        """Score one answer in [0, 1]; raise ``InvalidAnswer`` for a malformed one."""
        raise NotImplementedError

    # ---- optional hooks (a default here; override what your task needs) -------------------------

    def score_with_time(self, instance: Any, answer: Any, cpu_seconds: float) -> float:
        """The score of an answer given the CPU seconds the sandbox measured for the call; this is what the
        host calls. Override it to score speed too (see ``sort_speed``); by default time does not count."""
        return self.score(instance, answer)

    def expected(self, instance: Any) -> Any:
        """The right answer to ``instance`` (None included), shown next to a wrong one by
        ``utility.feedback`` (validation instances only). ``UNKNOWN`` (the default): feedback says only
        that the answer scored below 1."""
        return UNKNOWN

    # ---- provided -------------------------------------------------------------------------------

    def instances(self, split: Split, seed: int, secret: bytes | None = None) -> list[Any]:
        """The instances of a split, derived only from (seed, task name, split, index): same seed,
        same instances, whatever else the run did. Held-out test instances of a run derive from its
        ``secret`` instead (kept only in the host's store), so that nothing a program can learn, the
        run seed included, lets it compute them."""
        count = self.n_val if split == "val" else self.n_test
        name_code = int.from_bytes(self.name.encode()[:8].ljust(8, b"\0"), "little")
        if split == "test" and secret is not None:
            entropy = [int.from_bytes(secret[i:i + 4], "little") for i in range(0, len(secret), 4)]
        else:
            entropy = [seed]
        return [
            self.generate(np.random.default_rng([*entropy, name_code, SPLIT_CODES[split], i]))
            for i in range(count)
        ]

    def __repr__(self) -> str:
        return f"<Task {self.name}>"
