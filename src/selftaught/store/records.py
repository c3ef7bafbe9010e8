"""Record types: one schema feeds the store, replay and the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal


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
    origin: str  # "seed", "file", "iteration"; "candidate": scored in a step, not what the step returned
    iteration: int
    #: who wrote it (``engine/provenance.py``): "people", "model", "repaired" (a model reply the host
    #: repaired), "improver" (the improver's own code, e.g. a one-constant variant); "" in older stores
    author: str = ""


@dataclass(frozen=True, kw_only=True)
class InstanceResult:
    """How one solution did on one instance: the score ``utility`` averages, and the evidence the audit
    reads. Stored as a JSON object that omits the fields that are None (the format v0.1 wrote)."""

    score: float
    cpu: float  # CPU seconds, measured by the host
    verdict: str  # "ok", or why the instance scored 0 (a sandbox verdict, "cpu", "invalid")
    error: str | None = None
    #: the program's own clock, recorded only when it said less than the host measured (reward hacking)
    guest_cpu: float | None = None
    #: a checker bug: ``score()`` returned something outside [0, 1] (clamped)
    checker: str | None = None
    #: the program's answer, shortened (kept only when it scored below 1: what ``utility.feedback`` shows)
    answer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceResult:
        """Read one stored object (keys this version does not know are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True, kw_only=True)
class ImproverRunResult:
    """One run of an improver inside a meta-utility evaluation: what it returned and how that scored.
    A run that failed (or returned no program) scores 0 on both splits and still counts."""

    task: str
    run: int  # run index j on this task: run j of two improvers may share model draws (paired)
    verdict: str
    error: str | None = None
    lm_calls: int = 0
    #: model replies the run received (a call may ask for several): its model cost
    lm_responses: int = 0
    utility_calls: int = 0
    solution_hash: str | None = None  # the returned solution (None: the run returned none)
    val: float = 0.0
    test: float = 0.0

    def score(self, split: Literal["val", "test"]) -> float:
        return self.val if split == "val" else self.test

    def to_json(self) -> dict[str, Any]:
        """The v0.1 object, plus ``lm_responses`` when the run received any (v0.1 readers skip it)."""
        data = asdict(self)
        if not data["lm_responses"]:
            del data["lm_responses"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImproverRunResult:
        """Read one stored object (keys this version does not know are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


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
    instances: tuple[InstanceResult, ...] = ()


@dataclass(frozen=True)
class MetaEvaluationRecord:
    """The meta-utility of one improver: mean val (what improvers see) and test (held out) over runs."""

    improver_hash: str
    scope: str
    val: float
    test: float
    runs: tuple[ImproverRunResult, ...]

    def per_task(self) -> dict[str, tuple[float, float]]:
        """(val, test) mean per task: a mixture's overall û is the mean over all its runs (every task has
        the same number of runs, so that is also the mean of these per-task means)."""
        out: dict[str, tuple[float, float]] = {}
        for task in dict.fromkeys(r.task for r in self.runs):
            runs = [r for r in self.runs if r.task == task]
            out[task] = (sum(r.val for r in runs) / len(runs), sum(r.test for r in runs) / len(runs))
        return out


@dataclass(frozen=True, kw_only=True)
class ImproverRunTiming:
    """Host time spent serving one improver run: a timing, like ``wall_seconds``, so never replayed."""

    scope: str
    task: str
    run: int
    verdict: str
    host_seconds: float


@dataclass(frozen=True)
class RepairRecord:
    """What host-side repair made of one raw candidate improver (``engine/repair.py``); both programs
    are kept in ``programs``."""

    raw_hash: str
    parent_hash: str
    source_hash: str  # the repaired candidate (the parent's hash when nothing of the reply survived)
    steps: list[str]


@dataclass(frozen=True, kw_only=True)
class IterationRecord:
    """One iteration of self-improvement: the improver in force after it and how its candidate fared."""

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
