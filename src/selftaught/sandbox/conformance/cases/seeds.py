"""Seeds: the ``seed`` given to a call is what seeds the program's ``random`` and NumPy generators, so a
call is reproducible; a different seed gives different draws. (Keeping held-out seeds secret is the
engine's job: it derives per-call seeds and never passes the run's secret.)"""

from __future__ import annotations

import random

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.runner import Session

A = "seeds"
DRAW = """import random
import numpy as np
def attack(ctx):
    return [random.random(), float(np.random.random())]
"""


def _same_seed_same_draws(s: Session) -> None:
    one = s.run(DRAW, seed=1234)
    two = s.run(DRAW, seed=1234)
    other = s.run(DRAW, seed=1235)
    require(one.ok and two.ok and other.ok, f"draws failed: {one.error or two.error or other.error}")
    require(one.value == two.value, f"the same seed gave {one.value} and {two.value}")
    require(other.value != one.value, "seeds 1234 and 1235 gave the same draws")


def _seed_seeds_random(s: Session) -> None:
    res = s.run(DRAW, seed=42)
    require(res.ok, f"{res.verdict}: {res.error}")
    require(res.value[0] == random.Random(42).random(),
            f"random was not seeded with the call's seed: {res.value[0]} != {random.Random(42).random()}")


def _reseeded_every_call(s: Session) -> None:
    with s.worker(DRAW) as w:
        first = s.call(w, seed=7)
        again = s.call(w, seed=7)
    require(first.ok and again.ok and first.value == again.value,
            f"two calls with seed 7 in one worker drew {first.value} and {again.value}")


CASES = [
    Case("same_seed_same_draws", A, "the same seed twice, then another seed", drive=_same_seed_same_draws),
    Case("seed_seeds_random", A, "the call's seed is random's seed", drive=_seed_seeds_random),
    Case("reseeded_every_call", A, "a program that drew before is re-seeded by the next call's seed",
         drive=_reseeded_every_call),
]
