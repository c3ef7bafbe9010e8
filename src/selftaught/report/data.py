"""Everything a report shows, read from a run's store and findings in one pass.

Both renderers (HTML and terminal) take a ``ReportData``, so the two never compute anything twice or
differently: every figure either prints (spend per model and role, a mixture's meta-utility per task,
replies cut at the token cap, ...) is computed here once. Nothing here re-runs or re-scores:
per-iteration intervals come from the per-run scores of the meta-evaluation that decided the iteration,
usage from the recorded completions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.analysis.findings_store import Finding, FindingsTable
from selftaught.analysis.inventory import deciding_evaluation, model_written
from selftaught.analysis.paired import Comparison, MatchedCost, comparisons, final_matched_cost
from selftaught.config import CostConfig
from selftaught.pricing import PriceTable, usage_by_model_and_role
from selftaught.stats import mean_ci
from selftaught.store import CompletionRecord, ImproverRecord, IterationRecord, RunStore, TransferRecord
from selftaught.store.scopes import screening_scope
from selftaught.values import Usage

#: statuses of a run that ended early and can be resumed (``stop_reason`` says why)
STOPPED = ("stopped", "interrupted", "budget_exhausted")
_SCOPE_HASH = re.compile(r"^(?:mu|confirm)/([0-9a-f]{16})")
_SCOPE_STEP = re.compile(r"^t(\d+)/")


@dataclass(frozen=True)
class IterationRow:
    """One iteration with its 95% intervals and what it cost."""

    record: IterationRecord
    val_ci: tuple[float, float, float]  # (mean, low, high) over the deciding evaluation's runs
    test_ci: tuple[float, float, float]
    runs: int
    completions: int
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float


@dataclass(frozen=True)
class TaskSplit:
    """A task mixture's meta-utility of one iteration, per task (û itself is their mean)."""

    iteration: int
    improver_hash: str
    per_task: dict[str, tuple[float, float]]  # task -> (val, test) over its screening runs


@dataclass(frozen=True)
class Version:
    """One improver version in the lineage."""

    record: ImproverRecord
    anchor: str
    children: list[str]  # anchors
    labels: dict[str, str]  # strategy label -> evidence
    findings: list[Finding]  # audit + reward hacking about this improver
    model_written: bool


@dataclass
class ReportData:
    run_dir: Path
    config: dict[str, Any]
    status: str
    seed_solution: dict[str, tuple[float, float]]
    iterations: list[IterationRow]
    versions: list[Version]
    findings: list[Finding]
    evaluation_verdicts: Counter[tuple[str, str]]  # (verdict, tier) -> evaluations
    instance_verdicts: Counter[str]
    improver_run_verdicts: Counter[str]
    model_events: dict[str, int]
    transfer: Any = None
    sandbox_flag: dict[str, Any] | None = None
    experiment: dict[str, Any] | None = None
    totals: dict[str, float] = field(default_factory=dict)
    #: model spend per (model name, role), from the recorded completions (replays are free)
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)
    #: per step, candidate vs parent on shared model draws; last, I_T vs I_0 (analysis/paired.py)
    paired: list[Comparison] = field(default_factory=list)
    #: the final comparison at matched model cost (None: no final comparison)
    matched: MatchedCost | None = None
    #: improver hash -> (the model's raw candidate, repair steps) for candidates repaired in the host
    repairs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: per iteration, the meta-utility split by task (empty unless the run's task is a mixture)
    task_splits: list[TaskSplit] = field(default_factory=list)
    #: role -> (replies cut at model.max_tokens, replies), for the roles that had a reply cut
    cut_replies: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: why a run stopped early (status in ``STOPPED``), with the command that resumes it
    stop_reason: str | None = None

    def by_analyzer(self, analyzer: str) -> list[Finding]:
        return [f for f in self.findings if f.analyzer == analyzer]


def anchor(improver_hash: str) -> str:
    """The HTML id of an improver version (also how the terminal names it)."""
    return f"v-{improver_hash[:12]}"


def _iteration_of_scope(scope: str, iterations: list[IterationRecord]) -> int | None:
    """Which iteration a completion's scope belongs to: ``t3/...`` is step 3; ``mu/<hash>`` and
    ``confirm/<hash>`` belong to the iteration that evaluated that improver (its candidate; t = 0: the
    starting improver)."""
    if m := _SCOPE_STEP.match(scope):
        return int(m.group(1))
    if m := _SCOPE_HASH.match(scope):
        for it in iterations:
            target = it.candidate_hash if it.iteration > 0 else it.improver_hash
            if target and target.startswith(m.group(1)):
                return it.iteration
    return None


def _unit_ci(values: list[float]) -> tuple[float, float, float]:
    """A t-interval clipped to [0, 1], the range of every utility (n = 3 runs can reach far outside it)."""
    mean, low, high = mean_ci(values)
    return mean, max(0.0, low), min(1.0, high)


def _iteration_rows(store: RunStore, iterations: list[IterationRecord]) -> list[IterationRow]:
    usage: dict[int, list[float]] = {}
    for c in store.completions():
        t = _iteration_of_scope(c.scope, iterations)
        if t is not None:
            u = usage.setdefault(t, [0, 0, 0, 0.0])
            u[0] += 1
            u[1] += c.prompt_tokens
            u[2] += c.completion_tokens
            u[3] += c.latency
    rows = []
    for it in iterations:
        meta = deciding_evaluation(store, it.improver_hash, it.val, it.test)
        runs = meta.runs if meta else ()
        val = _unit_ci([r.val for r in runs]) if runs else (it.val, it.val, it.val)
        test = _unit_ci([r.test for r in runs]) if runs else (it.test, it.test, it.test)
        n, pt, ct, secs = usage.get(it.iteration, [0, 0, 0, 0.0])
        rows.append(IterationRow(it, val, test, len(runs), int(n), int(pt), int(ct), float(secs)))
    return rows


def task_splits(store: RunStore, iterations: list[IterationRecord]) -> list[TaskSplit]:
    """For a task mixture, each iteration's meta-utility (screening) split by task; [] for one task."""
    tasks = [t for t in str((store.get_meta("config") or {}).get("task", "")).split(",") if t.strip()]
    if len(tasks) < 2:
        return []
    out = []
    for it in iterations:
        rec = store.get_meta_evaluation(it.improver_hash, screening_scope(it.improver_hash))
        if rec is not None:
            out.append(TaskSplit(it.iteration, it.improver_hash, rec.per_task()))
    return out


def cut_replies(completions: list[CompletionRecord]) -> dict[str, tuple[int, int]]:
    """role -> (replies cut at model.max_tokens, i.e. finish_reason 'length'; all replies), for each role
    with a cut reply."""
    total: Counter[str] = Counter(c.role or "?" for c in completions)
    cut: Counter[str] = Counter(c.role or "?" for c in completions if c.finish_reason == "length")
    return {role: (cut[role], total[role]) for role in sorted(cut)}


#: Share of a role's replies cut at ``model.max_tokens`` from which the budget, not the model, is the likely
#: cause. Below it, a cut reply is a small model repeating itself until the limit (the quick start's 135M
#: model does so in about 1 reply of 12 at any limit), and raising the limit would only buy longer loops.
CUT_SHARE_WORTH_SAYING = 0.25


def describe_cut_replies(cut: dict[str, tuple[int, int]]) -> str | None:
    """The one line both renderers print about cut replies (None: no role had a large share of its
    replies cut)."""
    cut = {role: (n, total) for role, (n, total) in cut.items() if n >= CUT_SHARE_WORTH_SAYING * total}
    if not cut:
        return None
    per_role = ", ".join(f"{role} {n} of {total}" for role, (n, total) in cut.items())
    return f"replies cut at model.max_tokens (finish_reason 'length'): {per_role}; raise model.max_tokens"


def _versions(improvers: list[ImproverRecord], findings: list[Finding]) -> list[Version]:
    children: dict[str, list[str]] = {}
    for imp in improvers:
        if imp.parent:
            children.setdefault(imp.parent, []).append(anchor(imp.hash))
    out = []
    for imp in improvers:
        mine = [f for f in findings if f.subject == imp.hash]
        labels = {f.rule: f.message for f in mine if f.analyzer == "strategies" and f.evidence.get("by") != "judge"}
        flags = [f for f in mine if f.analyzer in ("audit", "reward_hacking")]
        out.append(Version(imp, anchor(imp.hash), children.get(imp.hash, []), labels, flags, model_written(imp)))
    return out


def load(run_dir: Path) -> ReportData:
    """Read everything the report shows (run the analyses first to have their findings in it)."""
    store = RunStore(Path(run_dir))
    try:
        with FindingsTable(Path(run_dir)) as table:
            findings = table.all()
        status, stop_reason = store.status()
        iterations = store.iterations()
        evaluations = store.evaluations()
        metas = store.meta_evaluations()
        improver_runs: Counter[str] = Counter(r.verdict for m in metas for r in m.runs)
        rows = _iteration_rows(store, iterations)
        completions = store.completions()
        data = ReportData(
            run_dir=Path(run_dir),
            config=store.get_meta("config") or {},
            status=status,
            seed_solution={k: (float(v[0]), float(v[1])) for k, v in (store.get_meta("seed_solution") or {}).items()},
            iterations=rows,
            versions=_versions(store.improvers(), findings),
            findings=findings,
            evaluation_verdicts=Counter((e.verdict, e.tier or "?") for e in evaluations),
            instance_verdicts=Counter(i.verdict for e in evaluations for i in e.instances),
            improver_run_verdicts=improver_runs,
            model_events=store.model_event_counts(),
            transfer=_transfer_rows(store.transfers()),
            sandbox_flag=store.get_meta("sandbox_flag"),
            experiment=store.get_meta("experiment"),
            totals={"completions": len(completions),
                    "prompt_tokens": sum(c.prompt_tokens for c in completions),
                    "completion_tokens": sum(c.completion_tokens for c in completions),
                    "model_seconds": sum(c.latency for c in completions),
                    "evaluations": len(evaluations)},
            usage=usage_by_model_and_role(completions, PriceTable(
                CostConfig.model_validate((store.get_meta("config") or {}).get("cost") or {}).prices)),
            paired=comparisons(store),
            matched=final_matched_cost(store),
            repairs={r.source_hash: (store.get_program(r.raw_hash) or "", r.steps) for r in store.repairs()
                     if r.source_hash != r.raw_hash},
            task_splits=task_splits(store, iterations),
            cut_replies=cut_replies(completions),
            stop_reason=stop_reason,
        )
    finally:
        store.close()
    return data


def _transfer_rows(records: list[TransferRecord]) -> dict[str, dict[str, str]] | None:
    """The transfer table (``selftaught transfer``): per task, u(s) and û(I_t) on held-out test, 95% CI."""
    if not records:
        return None
    rows: dict[str, dict[str, str]] = {}
    for r in records:
        label = r.subject if r.subject == "u(s)" else f"û({r.subject})"
        rows.setdefault(r.task, {})[label] = f"{r.test:.3f} [{r.test_low:.3f}, {r.test_high:.3f}] n={r.n}"
    return rows
