"""String grid distance (a transfer task of the paper).

For equal-length strings over {A, B}, grid_dist(s, t) counts the positions where s and t differ plus
the adjacent changes (AB or BA) within s and within t. Given t and a distance d that some hidden
string s attains, the solution must return a string s' with grid_dist(s', t) == d. Score per
instance: 1 if exact, else 0.5 - |grid_dist(s', t) - d| / (6 len(t)), which lies in (0, 0.5] because
a grid distance is at most 3 len(t) - 2. These are the reference's rules; the only change is that a
malformed string (wrong length or letters) is an ``InvalidAnswer`` scoring 0 on that instance
instead of an assertion error caught by a thread pool.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from selftaught.tasks.answers import text
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
def algorithm(t: str, dist: int) -> str:
    return t
'''


def grid_dist(s: str, t: str) -> int:
    """Mismatches between s and t plus the letter changes between neighbours within each string."""
    mismatches = sum(a != b for a, b in zip(s, t, strict=True))
    return mismatches + sum(a != b for a, b in pairwise(s)) + sum(a != b for a, b in pairwise(t))


class StringGridDistance(Task):
    """Construct a string at a prescribed grid distance from ``t``."""

    name = "string_grid"
    description = """\
String grid distance. For two strings s and t of equal length over the letters A and B,
grid_dist(s, t) = (number of positions i where s[i] != t[i])
                + (number of i where s[i] != s[i+1]) + (number of i where t[i] != t[i+1]).
Write `algorithm(t: str, dist: int) -> str`. t has 1 to 30 letters, and dist is the grid distance
between t and some string of the same length, so an exact answer always exists. Return a string s
of len(t) letters A/B with grid_dist(s, t) == dist.
Score per instance: 1 if exact, otherwise 0.5 - abs(grid_dist(s, t) - dist) / (6 * len(t)); a
string of the wrong length or with other letters, an error, or more than 0.1 seconds of CPU time
scores 0. The utility is the mean over 50 instances.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 0.1
    n_val = 50
    n_test = 50

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        length = int(rng.integers(1, 31))
        t = "".join(rng.choice(["A", "B"], size=length))
        s = "".join(rng.choice(["A", "B"], size=length))
        return {"t": t, "s": s, "dist": grid_dist(s, t)}

    def arguments(self, instance: dict[str, Any]) -> tuple[str, int]:
        return (instance["t"], instance["dist"])

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        t, dist = instance["t"], instance["dist"]
        found = grid_dist(text(answer, len(t), "AB", "the returned string"), t)
        if found == dist:
            return 1.0
        return max(0.0, 0.5 - abs(found - dist) / (6 * len(t)))
