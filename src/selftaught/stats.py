"""Intervals for the small samples STOP produces (5 improver runs, 20 instances, N flag samples): used by
the engine (baseline estimates), analysis and the report, so it sits below all three.

Wilson intervals for rates (the paper reports its sandbox-flag rates with them; they stay inside [0, 1]
and are sensible at 0 of N), Student-t intervals for means of a handful of runs (a normal interval would
be far too narrow at n = 5). No SciPy: the t quantiles needed are tabulated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054
#: Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% (by default) Wilson score interval of a proportion; (0, 1) when there is no sample."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends: no 5e-17 from rounding
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def t95(df: int) -> float:
    """t_{0.975, df}; the normal quantile beyond the table (the difference is under 2% there)."""
    return _T95[df - 1] if 1 <= df <= len(_T95) else Z95


def sample_variance(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return sum((v - mean) ** 2 for v in values) / (n - 1)


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): a 95% Student-t interval; a single value gives a zero-width interval."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, mean, mean
    half = t95(n - 1) * math.sqrt(sample_variance(values) / n)
    return mean, mean - half, mean + half


#: Beyond this many nonzero pairs the sign-flip test samples flips instead of enumerating all 2^n.
EXACT_FLIPS_UP_TO = 20
SAMPLED_FLIPS = 200_000


def sign_flip_test(diffs: Sequence[float], seed: int = 0) -> float:
    """Two-sided paired permutation test of mean(diffs) = 0: under the null each pair's sign is a coin
    flip, so p is the share of the 2^n sign patterns whose |sum| reaches the observed |sum|. Unlike the
    sign test it weighs how much each pair differs, so graded differences (0.35 vs 0.05) count for what
    they are; exact up to ``EXACT_FLIPS_UP_TO`` nonzero pairs, else a seeded sample of sign patterns
    (the same data, the same p). Zero differences carry no sign and are dropped; p = 1 when none is left."""
    import numpy as np  # numpy is a core dependency; imported here to keep `selftaught.stats` light

    d = np.array([x for x in diffs if x != 0.0], dtype=float)
    n = len(d)
    if n == 0:
        return 1.0
    observed = abs(float(d.sum())) - 1e-9 * max(1.0, float(np.abs(d).sum()))  # ties count as extreme
    if n <= EXACT_FLIPS_UP_TO:
        hits, total = 0, 0
        chunk = 1 << min(n, 16)
        low_bits = ((np.arange(chunk)[:, None] >> np.arange(min(n, 16))) & 1) * 2 - 1
        for high in range(1 << max(0, n - 16)):
            high_signs = ((high >> np.arange(n - min(n, 16))) & 1) * 2 - 1
            sums = low_bits @ d[:min(n, 16)] + float(high_signs @ d[min(n, 16):])
            hits += int((np.abs(sums) >= observed).sum())
            total += chunk
        return hits / total
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, SAMPLED_FLIPS, 20_000):
        signs = rng.integers(0, 2, size=(min(20_000, SAMPLED_FLIPS - start), n)) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed).sum())
    return (hits + 1) / (SAMPLED_FLIPS + 1)
