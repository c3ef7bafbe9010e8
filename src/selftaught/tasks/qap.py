"""Modified quadratic assignment (MQAP, a transfer task of the paper).

Assign n = 15 facilities to 15 locations (a permutation a) to minimise
    cost(a) = sum_ij F[i, j] * D[a[i], a[j]] - 0.5 * sum_i P[i, a[i]]
with F (flows), D (distances) and P (preferences) uniform in [0, 1).

Score: ``(U - cost) / (U - L)`` where L <= cost(a) <= U hold for *every* permutation a of this
instance, so the score is in [0, 1] by construction, higher is better, and no clipping hides
differences. The bounds come from the rearrangement inequality: a permutation maps the diagonal
pairs (i, i) onto diagonal pairs of D and the off-diagonal pairs onto off-diagonal pairs, so the
quadratic part lies between the sorted-opposite and sorted-alike dot products of those entries; the
preference part lies between the sums of the row minima and row maxima of P. A random permutation
scores about 0.5; the (unknown) optimum scores below 1.

Differences from the reference (see docs/stop.md): it added elapsed seconds to the objective and
ranked a *higher* cost as better while its seed minimised, with unseeded instances. Here there is one
direction, no time term (the CPU limit is the only time rule), seeded instances and a permutation
check.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from selftaught.tasks.answers import clamp01, permutation
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
import numpy as np
from random import randint, random


def algorithm(F, D, P):
    """Simulated annealing over swaps, 1000 steps, keeping the lowest-cost assignment seen."""
    n = len(F)

    def cost(a):
        total = sum(F[i, j] * D[a[i], a[j]] for i in range(n) for j in range(n))
        return total - 0.5 * sum(P[i, a[i]] for i in range(n))

    current = list(range(n))
    best, best_cost = list(current), cost(current)
    temperature = 1.0
    for _ in range(1000):
        temperature *= 0.99
        candidate = list(current)
        i = randint(0, n - 1)
        j = randint(0, n - 1)
        while j == i:
            j = randint(0, n - 1)
        candidate[i], candidate[j] = candidate[j], candidate[i]
        candidate_cost = cost(candidate)
        delta = candidate_cost - cost(current)
        if delta < 0 or random() < np.exp(-delta / temperature):
            current = candidate
            if candidate_cost < best_cost:
                best, best_cost = list(candidate), candidate_cost
    return best
'''


def mqap_cost(F: np.ndarray, D: np.ndarray, P: np.ndarray, a: np.ndarray) -> float:
    """The objective to minimise for assignment ``a`` (facility i at location a[i])."""
    return float((F * D[np.ix_(a, a)]).sum() - 0.5 * P[np.arange(len(a)), a].sum())


def cost_bounds(F: np.ndarray, D: np.ndarray, P: np.ndarray) -> tuple[float, float]:
    """(L, U) with L <= mqap_cost(a) <= U for every permutation a (rearrangement inequality)."""
    off = ~np.eye(len(F), dtype=bool)
    low = high = 0.0
    for flows, distances in ((np.diag(F), np.diag(D)), (F[off], D[off])):
        f, d = np.sort(flows), np.sort(distances)
        low += float(f @ d[::-1])
        high += float(f @ d)
    return low - 0.5 * float(P.max(axis=1).sum()), high - 0.5 * float(P.min(axis=1).sum())


class ModifiedQuadraticAssignment(Task):
    """Quadratic assignment with a linear preference term; the score is normalised per instance."""

    name = "qap"
    description = """\
Modified quadratic assignment. Write `algorithm(F, D, P)` for numpy float arrays of shape (15, 15)
with entries uniform in [0, 1): F = flows between facilities, D = distances between locations,
P = preference of facility i for location k. Return an assignment a: a list (or 1-D array) that is
a permutation of 0..14, facility i going to location a[i]. Lower cost is better, where
    cost(a) = sum over i, j of F[i, j] * D[a[i], a[j]]  -  0.5 * sum over i of P[i, a[i]].
Score per instance: (U - cost(a)) / (U - L), where L and U are a lower and an upper bound on the
cost of any permutation for that instance (from sorting the entries), so the score is in [0, 1]
and higher is better; a random permutation scores about 0.5. The utility is the mean over 10
instances. A non-permutation, an error, or more than 0.5 seconds of CPU time scores 0 on that
instance.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 0.5
    n_val = 10
    n_test = 10

    size: ClassVar[int] = 15

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        F, D, P = (rng.random((self.size, self.size)) for _ in range(3))
        low, high = cost_bounds(F, D, P)
        return {"F": F, "D": D, "P": P, "low": low, "high": high}

    def arguments(self, instance: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (instance["F"], instance["D"], instance["P"])

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        """Position of the cost between the instance's bounds: 1 at L, 0 at U."""
        a = permutation(answer, self.size)
        cost = mqap_cost(instance["F"], instance["D"], instance["P"], a)
        return clamp01((instance["high"] - cost) / (instance["high"] - instance["low"]))
