"""u(s): each task's seed-solution utility, with confidence intervals and stability over repeats.

The baseline is the first row of the paper's transfer table and the yardstick of every run. It is scored
exactly as a run scores solutions (``SolutionScorer``: sandboxed child, CPU-time limit per instance,
failed instances 0), in a throw-away store, so nothing here duplicates the scoring rules.

Stability: a deterministic solution with seeded randomness (the worker seeds ``random`` and
``numpy.random`` per call) can only change score between repeats through timing. ``repeats`` re-scores
the seed ``K`` times in fresh stores (so the memo cannot hide a change) and reports the spread of the
utility and how many instances changed verdict or score.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selftaught.engine.utility import SolutionScorer
from selftaught.sandbox import Executor
from selftaught.stats import mean_ci
from selftaught.store import EvaluationRecord, RunStore
from selftaught.tasks.base import Split, Task


@dataclass(frozen=True)
class MeanInterval:
    """A mean with its 95% Student-t interval over ``n`` values (instances or improver runs)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanInterval:
        mean, low, high = mean_ci(list(values))
        return cls(mean, max(0.0, low), min(1.0, high), len(values))

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class SeedBaseline:
    """u(s) of one task on val and test (first repeat), plus what changed over the other repeats."""

    task: str
    val: MeanInterval
    test: MeanInterval
    verdicts: dict[str, int]
    #: (val, test) utility of every repeat, in order
    repeats: list[tuple[float, float]] = field(default_factory=list)
    #: instances (val + test) whose score differed between any two repeats
    unstable_instances: int = 0
    seconds: float = 0.0

    @property
    def spread(self) -> tuple[float, float]:
        """max - min of the val and test utility over the repeats (0 when scores are stable)."""
        vals, tests = zip(*self.repeats) if self.repeats else ((0.0,), (0.0,))
        return max(vals) - min(vals), max(tests) - min(tests)


def instance_scores(ev: EvaluationRecord) -> list[float]:
    return [float(i.score) for i in ev.instances]


def seed_baseline(task: Task, executor: Executor, seed: int = 0, repeats: int = 1,
                  memory_mb: int = 4096) -> SeedBaseline:
    """Score ``task.seed_solution`` on val and test ``repeats`` times, each in a fresh store."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    started = time.monotonic()
    per_repeat: list[dict[Split, EvaluationRecord]] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="selftaught-baseline-") as tmp:
            store = RunStore(Path(tmp), create=True)
            scorer = SolutionScorer(executor, store, seed, memory_mb)
            per_repeat.append({split: scorer.evaluate(task, task.seed_solution, split)
                               for split in ("val", "test")})
            store.close()
    first = per_repeat[0]
    verdicts = Counter(i.verdict for split in ("val", "test") for i in first[split].instances)
    unstable = 0
    for split in ("val", "test"):
        columns = zip(*(instance_scores(r[split]) for r in per_repeat))
        unstable += sum(len(set(column)) > 1 for column in columns)
    return SeedBaseline(
        task=task.name, val=MeanInterval.of(instance_scores(first["val"])),
        test=MeanInterval.of(instance_scores(first["test"])), verdicts=dict(sorted(verdicts.items())),
        repeats=[(r["val"].score, r["test"].score) for r in per_repeat], unstable_instances=unstable,
        seconds=time.monotonic() - started)


def seed_problems(task: Task, executor: Executor, seed: int = 0) -> tuple[list[str], list[str]]:
    """Run the seed solution in the sandbox on the validation instances: (problems, notes).

    A problem: the seed does not load, fails on every instance, or the checker returned a score
    outside [0, 1] for one of its answers. A note: the seed fails on some instances only (legitimate:
    the reference's 3-SAT seed gives up on hard formulas), or what it scores.
    """
    with tempfile.TemporaryDirectory(prefix="selftaught-validate-") as tmp:
        store = RunStore(Path(tmp), create=True)
        try:
            ev = SolutionScorer(executor, store, seed).evaluate(task, task.seed_solution, "val")
        except Exception as exc:  # noqa: BLE001 - the task's own code failed inside the scorer
            return [f"scoring the seed solution raised {type(exc).__name__}: {exc}"], []
        finally:
            store.close()
    problems: list[str] = []
    failed = [(i, r) for i, r in enumerate(ev.instances) if r.verdict != "ok"]
    if failed and (failed[0][1].error or "").startswith("loading:"):
        problems.append(f"the seed solution does not load in the sandbox: {(failed[0][1].error or '')[9:]}")
    elif ev.instances and len(failed) == len(ev.instances):
        i, r = failed[0]
        problems.append(f"the seed solution fails on every validation instance (instance {i}: "
                        f"{r.verdict}: {r.error})")
    for i, r in enumerate(ev.instances):
        if r.checker:
            problems.append(f"on the seed solution's answer to instance {i}, {r.checker}")
            break
    notes = [f"seed solution scores {ev.score:.3f} on {len(ev.instances)} validation instances"]
    if failed and not problems:
        i, r = failed[0]
        notes.append(f"the seed solution fails on {len(failed)} of {len(ev.instances)} instances "
                     f"(first, instance {i}: {r.verdict}: {r.error})")
    return problems, notes
