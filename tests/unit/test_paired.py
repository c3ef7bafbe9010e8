"""Paired differences (analysis/paired.py): sign test, bootstrap interval, pairing of stored runs."""

from __future__ import annotations

import math

from selftaught.analysis.paired import bootstrap_ci, paired_difference, paired_runs, sign_test
from selftaught.store import ImproverRunResult


def _run(task: str, run: int, test: float) -> ImproverRunResult:
    return ImproverRunResult(task=task, run=run, verdict="ok", test=test)


def test_sign_test_is_the_exact_two_sided_binomial():
    assert sign_test(9, 0) == 2 / 2 ** 9
    assert sign_test(0, 0) == 1.0 and sign_test(3, 3) == 1.0
    assert math.isclose(sign_test(8, 2), 2 * (1 + 10 + 45) / 1024)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    diffs = [0.0, 0.1, 0.5, 0.7, 0.0, 0.3, 0.0, 0.9, 0.2, 0.4]
    low, high = bootstrap_ci(diffs)
    assert low < sum(diffs) / len(diffs) < high and (low, high) == bootstrap_ci(diffs)
    assert bootstrap_ci([0.25] * 5) == (0.25, 0.25)


def test_paired_difference_counts_wins_losses_and_ties():
    d = paired_difference([0.3, 0.3, 1.0, 0.3], [1.0, 0.3, 1.0, 0.2])
    assert (d.n, d.wins, d.losses, d.ties) == (4, 1, 1, 2)
    assert math.isclose(d.mean, (0.7 - 0.1) / 4) and d.p == 1.0


def test_runs_pair_by_task_and_index_not_by_position():
    a = [_run("t", 0, 0.2), _run("t", 1, 0.4)]
    b = [_run("t", 1, 0.9), _run("t", 0, 0.2)]
    d = paired_runs(a, b)
    assert d is not None and d.n == 2 and d.wins == 1 and d.ties == 1
    assert paired_runs(a, [_run("u", 0, 1.0)]) is None
