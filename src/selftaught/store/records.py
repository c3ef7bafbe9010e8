"""Record types: one schema feeds the store, replay and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CompletionRecord:
    """One model completion; ``key`` is the replay key (see ``models/recorder.py``)."""

    key: str
    scope: str
    occurrence: int
    model: str
    request: dict[str, Any]
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    role: str = "improver"
    #: Why the reply ended: "stop", "length" (cut at max_tokens), "context_overflow", ... ("" if unknown)
    finish_reason: str = ""


@dataclass(frozen=True)
class ImproverRecord:
    hash: str
    source: str
    parent: str | None
    origin: str  # "seed", "file", "iteration"
    iteration: int


@dataclass(frozen=True)
class EvaluationRecord:
    """One utility evaluation of a solution program on one split of one task."""

    task: str
    split: str
    program_hash: str
    score: float
    cpu_seconds: float
    wall_seconds: float
    verdict: str  # "ok" when every instance ran; otherwise the first failure's verdict
    error: str | None
    tier: str
    instances: list[dict[str, Any]] = field(default_factory=list)  # per instance: score, verdict, cpu, error


@dataclass(frozen=True)
class MetaEvaluationRecord:
    """The meta-utility of one improver: mean val (what improvers see) and test (held out) over runs."""

    improver_hash: str
    scope: str
    val: float
    test: float
    runs: list[dict[str, Any]]  # per run: task, solution_hash, val, test, verdict, error, model_calls


@dataclass(frozen=True)
class RepairRecord:
    """What host-side repair made of one raw candidate improver (``engine/repair.py``); both programs
    are kept in ``programs``."""

    raw_hash: str
    parent_hash: str
    source_hash: str  # the repaired candidate (the parent's hash when nothing of the reply survived)
    steps: list[str]


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    improver_hash: str  # the improver in force after this iteration (I_t)
    candidate_hash: str | None  # what I_{t-1} proposed (None at t = 0 or when it failed)
    adopted: bool
    val: float
    test: float
    candidate_val: float | None
    candidate_test: float | None
    verdict: str
    error: str | None
    model_calls: int
    seconds: float


@dataclass(frozen=True)
class TransferRecord:
    """One cell group of the transfer table: u(s) or û(I_t) of a run on one (other) task.

    ``subject`` is ``"u(s)"`` for the task's seed solution (``n`` = instances) or ``"I_t"`` for the
    run's improver of iteration t (``n`` = improver runs, each with a fresh budget). Intervals are 95%
    Student-t over those ``n`` values; ``scope`` names the meta-evaluation the runs are stored under.
    """

    task: str
    subject: str
    program_hash: str
    n: int
    val: float
    val_low: float
    val_high: float
    test: float
    test_low: float
    test_high: float
    scope: str | None = None
