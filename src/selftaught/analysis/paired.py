"""Paired comparison of two improvers evaluated on the same model draws (common random numbers).

Run j of improver A and run j of improver B draw from the same model seeds, so their difference is free
of most of the run-to-run noise that makes per-improver intervals over 3-5 runs span [0, 1]. We report
the mean paired difference with a percentile bootstrap 95% interval, wins/losses/ties, and the p-value of
a paired permutation (sign-flip) test of the mean difference (``stats.sign_flip_test``): exact, and
unlike a sign test it weighs how far apart a pair's graded scores are. The unit is the run (run j of
both improvers shares its model draws): instances within a run share one solution, so pairing them
one by one would count one draw many times. The final comparison also says what I_0 would score at
I_T's model cost (``matched_cost``). Pure functions over stored records: nothing is re-run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from selftaught.stats import sign_flip_test
from selftaught.store import ImproverRunResult, RunStore
from selftaught.store.scopes import confirm_parent_scope, confirm_scope, final_scope, screening_scope

BOOTSTRAP_RESAMPLES = 4000


@dataclass(frozen=True)
class PairedDifference:
    """B - A over n pairs: mean, 95% bootstrap interval, wins (B > A), losses, ties, and ``p``: the paired
    permutation test's two-sided p-value."""

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
                f"{self.ties} ties, paired permutation test p = {format_p(self.p)} (n = {self.n})")


def format_p(p: float) -> str:
    """A p-value as a reader should see it: never "0.000" (an exact test's p is at least 2 / 2^n)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


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
                            sign_flip_test(diffs))


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


@dataclass(frozen=True)
class MatchedCost:
    """I_T against I_0 given I_T's model cost: I_0 run ``k`` times (k = I_T's model replies per run over
    I_0's), the run with the best validation score kept, as a user with k times the budget would. Its
    expected held-out score is computed from I_0's own final runs (every k-subset, exactly; no new model
    call), so ``gain`` says whether I_T is smarter or only spends more. ``low``/``high``: 95% bootstrap
    interval over the paired runs."""

    replies_i0: float  # model replies per run
    replies_it: float
    k: float
    baseline: float  # I_0 best of k by validation: expected held-out score
    it: float  # I_T's mean held-out score
    gain: float
    low: float
    high: float

    def describe(self) -> str:
        return (f"at matched model cost (I_0 best of {self.k:.1f} runs by validation, as many replies as I_T's "
                f"{self.replies_it:.1f} per run): I_0 {self.baseline:.3f}, I_T {self.it:.3f}, gain {self.gain:+.3f} "
                f"[{self.low:+.3f}, {self.high:+.3f}]")


def best_of(runs: Sequence[tuple[float, float]], k: float) -> float:
    """Expected test score of the best-validation run among ``k`` drawn without replacement from ``runs``
    ((val, test) pairs), ties broken at random; a fractional k interpolates between its neighbours.
    Exact: the chance that the best validation score of a k-subset is a given value is a difference of
    binomial coefficients over the runs sorted by validation score."""
    n = len(runs)
    if n == 0:
        return math.nan
    k = min(max(k, 1.0), float(n))
    lo = math.floor(k)
    if lo < k:
        return (math.ceil(k) - k) * best_of(runs, lo) + (k - lo) * best_of(runs, math.ceil(k))
    m = lo
    groups: dict[float, list[float]] = {}
    for val, test in runs:
        groups.setdefault(val, []).append(test)
    total, below, expected = math.comb(n, m), 0, 0.0
    for val in sorted(groups):
        tests = groups[val]
        upto = below + len(tests)
        expected += (math.comb(upto, m) - math.comb(below, m)) / total * (sum(tests) / len(tests))
        below = upto
    return expected


def matched_cost(i0: Sequence[ImproverRunResult], it: Sequence[ImproverRunResult],
                 resamples: int = 1000) -> MatchedCost | None:
    """I_T against I_0 at I_T's model cost, from the final comparison's runs (None: no runs, or no
    model reply counts recorded)."""
    if not i0 or not it:
        return None
    r0 = sum(r.lm_responses for r in i0) / len(i0)
    rt = sum(r.lm_responses for r in it) / len(it)
    if r0 <= 0 or rt <= 0:
        return None
    k = max(1.0, rt / r0)
    pool = [(r.val, r.test) for r in i0]
    mine = [r.test for r in it]

    def gain(a: Sequence[tuple[float, float]], b: Sequence[float]) -> float:
        return sum(b) / len(b) - best_of(a, k)

    rng = random.Random(0)
    n0, nt = len(pool), len(mine)
    boots = sorted(gain([pool[rng.randrange(n0)] for _ in range(n0)], [mine[rng.randrange(nt)] for _ in range(nt)])
                   for _ in range(resamples))
    baseline = best_of(pool, k)
    it_mean = sum(mine) / nt
    return MatchedCost(r0, rt, k, baseline, it_mean, it_mean - baseline, boots[int(0.025 * resamples)],
                       boots[min(resamples - 1, int(0.975 * resamples))])


def final_matched_cost(store: RunStore) -> MatchedCost | None:
    """The run's final comparison at matched model cost (None: it made no final comparison)."""
    its = store.iterations()
    if len(its) < 2:
        return None
    first, last = its[0].improver_hash, its[-1].improver_hash
    a, b = store.get_meta_evaluation(first, final_scope(first)), store.get_meta_evaluation(last, final_scope(last))
    return matched_cost(a.runs, b.runs) if a is not None and b is not None else None
