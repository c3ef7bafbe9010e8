"""Benchmark (c): a fully replayed run: the share of wall time spent outside utility code, and zero
model calls.

    .venv/bin/python benchmarks/replayed_run_overhead.py [--repeats 3]

A 1-iteration run (seed improver, 3 replies per call, 2 improver runs per meta-utility) is recorded
once, then resumed offline from its model cache alone, so every evaluation is recomputed and any model
call would be an error. "Utility code" is the time during which at least one utility evaluation
(sandboxed solution runs on the task's instances, ``SolutionScorer._run``) is in progress; everything
else (store, replay, improver processes, orchestration) is overhead. Target: overhead <= 10% of wall.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

import _common
from _common import median, record, replay

from selftaught.engine import runner
from selftaught.engine.utility import SolutionScorer

SETS = {"iterations": 1, "budget.max_responses_per_call": 3, "budget.meta_utility_tests": 2,
        "budget.meta_utility_calls": 3}


class TimedScorer(SolutionScorer):
    """The real scorer, noting when each utility evaluation starts and ends (benchmark instrumentation)."""

    spans: ClassVar[list[tuple[float, float]]] = []
    lock = threading.Lock()

    def _run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._run(*args, **kwargs)
        finally:
            with self.lock:
                self.spans.append((start, time.perf_counter()))


def covered(spans: list[tuple[float, float]]) -> float:
    """Length of the union of intervals."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def main() -> None:
    args = _common.parse_args(__doc__)
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    record(work / "recorded", **SETS)
    runner.SolutionScorer = TimedScorer  # type: ignore[misc]
    shares, walls, sent = [], [], []
    for _ in range(args.repeats):
        TimedScorer.spans = []
        result, wall = replay(work / "recorded", work / "replay", [])
        sent.append(result.model_calls_sent)
        walls.append(wall)
        shares.append(1 - covered(TimedScorer.spans) / wall)
    assert _common and all(s == 0 for s in sent)
    print(f"wall: {', '.join(f'{w:.2f}' for w in walls)} s; outside utility: "
          f"{', '.join(f'{100 * s:.1f}%' for s in shares)}; model calls sent: {sent}")
    print("| benchmark | wall (median) | outside utility code (median) | model calls sent | target |")
    print("|---|---|---|---|---|")
    print(f"| (c) fully replayed 1-iteration run | {median(walls):.2f} s | {100 * median(shares):.1f}% | "
          f"{max(sent)} | <= 10%, 0 calls |")


if __name__ == "__main__":
    main()
