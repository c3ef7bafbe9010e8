"""Paired comparison of two improvers evaluated on the same model draws (common random numbers).

Run j of improver A and run j of improver B draw from the same model seeds, so their difference is free
of most of the run-to-run noise that makes per-improver intervals over 3-5 runs span [0, 1]. We report
the mean paired difference with a percentile bootstrap 95% interval and an exact two-sided sign test
(wins against losses, ties dropped). Pure functions over stored records: nothing is re-run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BOOTSTRAP_RESAMPLES = 4000


@dataclass(frozen=True)
class PairedDifference:
    """B - A over n pairs: mean, 95% bootstrap interval, wins (B > A), losses, ties, sign-test p."""

    n: int
    mean: float
    low: float
    high: float
    wins: int
    losses: int
    ties: int
    p: float

    def describe(self) -> str:
        return (f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}], {self.wins} wins, {self.losses} losses, "
                f"{self.ties} ties, sign test p = {self.p:.3f} (n = {self.n})")


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided binomial sign test of wins vs losses (p = 1 when there are none)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def bootstrap_ci(diffs: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (a fixed seed: the same data, the same interval)."""
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    return means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """B - A for pairs (a[i], b[i])."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    diffs = [y - x for x, y in zip(a, b)]
    wins = sum(d > 0 for d in diffs)
    losses = sum(d < 0 for d in diffs)
    low, high = bootstrap_ci(diffs)
    mean = sum(diffs) / len(diffs) if diffs else math.nan
    return PairedDifference(len(diffs), mean, low, high, wins, losses, len(diffs) - wins - losses,
                            sign_test(wins, losses))


def paired_runs(a: list[dict[str, Any]], b: list[dict[str, Any]], split: str = "test"
                ) -> PairedDifference | None:
    """Pair two meta-evaluations' runs by (task, run index); None when no run pairs up."""
    by_key = {(r["task"], r["run"]): r[split] for r in a}
    pairs = [(by_key[(r["task"], r["run"])], r[split]) for r in b if (r["task"], r["run"]) in by_key]
    if not pairs:
        return None
    return paired_difference([x for x, _ in pairs], [y for _, y in pairs])
