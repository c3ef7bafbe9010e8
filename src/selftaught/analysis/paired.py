"""Paired comparison of two improvers evaluated on the same model draws (common random numbers).

Run j of improver A and run j of improver B draw from the same model seeds, so their difference is free
of most of the run-to-run noise that makes per-improver intervals over 3-5 runs span [0, 1]. We report
the mean paired difference with a percentile bootstrap 95% interval and an exact two-sided sign test
(wins against losses, ties dropped). Pure functions over stored records: nothing is re-run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from selftaught.store import ImproverRunResult, RunStore
from selftaught.store.scopes import confirm_parent_scope, confirm_scope, final_scope, screening_scope

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


def paired_runs(a: Sequence[ImproverRunResult], b: Sequence[ImproverRunResult],
                split: Literal["val", "test"] = "test") -> PairedDifference | None:
    """Pair two meta-evaluations' runs by (task, run index); None when no run pairs up."""
    by_key = {(r.task, r.run): r.score(split) for r in a}
    pairs = [(by_key[(r.task, r.run)], r.score(split)) for r in b if (r.task, r.run) in by_key]
    if not pairs:
        return None
    return paired_difference([x for x, _ in pairs], [y for _, y in pairs])


@dataclass(frozen=True)
class Comparison:
    """One paired comparison recorded in a run: a step's candidate against its parent, or the final
    I_T against I_0. ``draws`` says which evaluations were paired."""

    iteration: int  # the step (for the final comparison: the last iteration T)
    subject: str  # e.g. "candidate of t=1 vs I_0", "I_2 vs I_0"
    draws: str  # "screening" (common draws the candidate was chosen on), "confirmation", "final"
    val: PairedDifference
    test: PairedDifference

    def describe(self) -> str:
        return f"t={self.iteration} {self.subject} ({self.draws}): held-out test {self.test.describe()}"


def _pair(store: RunStore, a: tuple[str, str], b: tuple[str, str]) -> tuple[PairedDifference, PairedDifference] | None:
    ra, rb = store.get_meta_evaluation(*a), store.get_meta_evaluation(*b)
    if ra is None or rb is None:
        return None
    val, test = paired_runs(ra.runs, rb.runs, "val"), paired_runs(ra.runs, rb.runs, "test")
    return (val, test) if val is not None and test is not None else None


def comparisons(store: RunStore) -> list[Comparison]:
    """Per step, the candidate against its parent on the freshest shared draws recorded (confirmation,
    else screening); then I_T against I_0 on the final comparison's draws, when the run made one."""
    its = store.iterations()
    out: list[Comparison] = []
    for prev, it in itertools.pairwise(its):
        cand, parent = it.candidate_hash, prev.improver_hash
        if not cand or cand == parent:
            continue
        subject = f"candidate {cand[:10]} vs I_{prev.iteration}"
        for draws, a, b in (("confirmation", (parent, confirm_parent_scope(it.iteration, parent)),
                             (cand, confirm_scope(it.iteration, cand))),
                            ("screening", (parent, screening_scope(parent)), (cand, screening_scope(cand)))):
            pair = _pair(store, a, b)
            if pair is not None:
                out.append(Comparison(it.iteration, subject, draws, *pair))
                break
    if len(its) > 1:
        first, last = its[0].improver_hash, its[-1].improver_hash
        pair = _pair(store, (first, final_scope(first)), (last, final_scope(last)))
        if pair is not None:
            out.append(Comparison(its[-1].iteration, f"I_{its[-1].iteration} vs I_0", "final", *pair))
    return out
