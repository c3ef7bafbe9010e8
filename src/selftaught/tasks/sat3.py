"""Random 3-SAT with a planted solution (a transfer task of the paper).

Each instance has n variables (5..50) and 4n clauses of 3 distinct variables; clauses are drawn at
random and kept only if a hidden random assignment satisfies them, so every formula is satisfiable.
Score per formula: 1 if the returned assignment satisfies every clause, else 0.

Difference from the reference: its scorer aborted the whole utility at 0.01 when one formula raised
or got ``None`` (the seed's answer when its random walk fails), and measured time in wall-clock
threads. Here ``None`` is an ``InvalidAnswer`` that scores 0 on that formula only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selftaught.tasks.answers import describe, plain
from selftaught.tasks.base import InvalidAnswer, Task

SEED_SOLUTION = '''\
import random


def algorithm(formula):
    """Random walk from all-False: flip a literal of a random unsatisfied clause, 1000 steps at most."""
    n = max(abs(lit) for clause in formula for lit in clause)
    value = [False] * (n + 1)

    def is_true(lit):
        return value[abs(lit)] == (lit > 0)

    for _ in range(1000):
        broken = [clause for clause in formula if not any(is_true(lit) for lit in clause)]
        if not broken:
            return value
        clause = random.choice(broken)
        if random.random() < 0.4:
            lit = random.choice(clause)
        else:  # greedy: the literal that is true in the fewest clauses containing it
            lit = min(clause, key=lambda l: sum(is_true(l) for c in formula if l in c))
        value[abs(lit)] = not value[abs(lit)]
    return None
'''


def satisfies(formula: list[list[int]], assignment: list[Any]) -> bool:
    """Literal l is true iff ``(assignment[abs(l)] > 0) == (l > 0)`` (the reference's convention)."""
    return all(any((assignment[abs(lit)] > 0) == (lit > 0) for lit in clause) for clause in formula)


class ThreeSat(Task):
    """Planted random 3-SAT: find any satisfying assignment."""

    name = "sat3"
    description = """\
Random 3-SAT. Write `algorithm(formula)` that returns a satisfying assignment.
- formula: a list of clauses; each clause is a list of 3 non-zero ints (literals) over distinct
  variables numbered 1..n (n between 5 and 50, with 4n clauses). Literal v means "variable v is
  true", -v means "variable v is false". Every formula is satisfiable.
- Return a list `assignment` with at least n+1 entries, where assignment[v] (True/False or a
  number; index 0 is ignored) gives variable v, which counts as true when assignment[v] > 0.
Score: the fraction of 30 formulas whose every clause is satisfied (1 per satisfied formula, 0
otherwise). Returning None, a malformed list, an error, or using more than 0.1 seconds of CPU time
scores 0 on that formula only.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 0.1
    n_val = 30
    n_test = 30

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        """Keep random clauses that a hidden assignment satisfies (7 in 8 are) until there are 4n."""
        n = int(rng.integers(5, 51))
        planted = [False] + (rng.random(n) < 0.5).tolist()
        formula: list[list[int]] = []
        while len(formula) < 4 * n:
            variables = rng.choice(n, size=3, replace=False) + 1
            signs = rng.random(3) < 0.5
            clause = [int(v) if s else -int(v) for v, s in zip(variables, signs)]
            if satisfies([clause], planted):
                formula.append(clause)
        return {"n": n, "formula": formula, "planted": planted}

    def arguments(self, instance: dict[str, Any]) -> tuple[list[list[int]]]:
        return ([list(clause) for clause in instance["formula"]],)

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        """1.0 if every clause is satisfied; malformed assignments raise ``InvalidAnswer``."""
        answer = plain(answer)
        if answer is None:
            raise InvalidAnswer("returned None instead of an assignment")
        formula = instance["formula"]
        needed = max(abs(lit) for clause in formula for lit in clause) + 1
        if not isinstance(answer, list) or len(answer) < needed:
            raise InvalidAnswer(f"assignment must be a list of at least {needed} values, got {describe(answer)}")
        for v in range(1, needed):  # index 0 is ignored, as in the reference
            value = answer[v]
            if not isinstance(value, (bool, int, float)) or (isinstance(value, float) and math.isnan(value)):
                raise InvalidAnswer(f"assignment[{v}] must be True/False or a number, got {describe(value)}")
        return float(satisfies(formula, answer))
