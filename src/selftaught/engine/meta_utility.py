"""The meta-utility û(I): the mean downstream utility of what improver I produces, over several runs.

Each run gets the task's seed solution, a fresh language-model budget and a fresh utility budget. A run
that fails (raises, hangs, returns a non-program) scores 0 and still counts in the divisor. The improver
only ever sees validation scores; the held-out test score of every result is recorded beside it.

Common random numbers (with ``improves`` adoption): screening evaluations take their model draws from ``SCREENING_DRAWS`` (run j of
task k draws from ``draws/k/run j``, whatever the improver), so any two screened improvers are compared
on the same draws and a candidate that asks what its parent asked replays the parent's replies for free.
Confirmation and the final comparison use fresh draws, shared by the two improvers they compare.
Candidates proposed in a self-improvement step pass the smoke gate first (``engine/smoke.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from selftaught.engine.budget import ImproverBudget, stated_budgets
from selftaught.engine.candidates import CandidateGate
from selftaught.engine.concurrency import resolve
from selftaught.engine.context import EngineContext
from selftaught.engine.programs import program_hash, too_large
from selftaught.engine.provenance import author_of
from selftaught.engine.smoke import SMOKE_FAILED
from selftaught.engine.utility import UtilityService, clean_text
from selftaught.store import ImproverRecord, ImproverRunResult, MetaEvaluationRecord
from selftaught.store.scopes import screening_scope
from selftaught.tasks.base import Task

__all__ = ["SCREENING_DRAWS", "MetaUtility", "MetaUtilityService", "describe", "screening_scope"]

_DESCRIPTION = '''def meta_utility(improve_str: str) -> float:
    """Scores an improver: the mean downstream utility of the solutions it produces.

    improve_str must define improve_algorithm(initial_solution, utility, language_model), with the
    same interface you are using now. It is run {n_tests} time(s) per task, sandboxed, each time on the
    task's seed solution with a fresh language_model (budget {lm_calls} calls, at most {max_resp}
    responses per call) and a fresh utility (budget {utility_calls} calls, 0 after that). The returned
    solution is scored on validation instances; a run that raises, times out or returns something that
    is not a program scores 0. The result is the mean over all runs, in [0, 1].
    meta_utility itself can be called {budget} times; after that it returns 0.

    Downstream task(s):
{tasks}
    """'''


def describe(ctx: EngineContext) -> str:
    tasks = "\n".join("    - " + t.name + ": " + t.description.strip().replace("\n", "\n      ")
                      for t in ctx.tasks)
    return _DESCRIPTION.format(**stated_budgets(ctx.config), tasks=tasks)


SCREENING_DRAWS = "draws"


class MetaUtility:
    def __init__(self, ctx: EngineContext, gate: CandidateGate | None = None) -> None:
        self.ctx = ctx
        self.gate = gate or CandidateGate(ctx)

    @property
    def screening_draws(self) -> str | None:
        """The common draws of screening under ``improves``; ``nonzero`` reproduces the reference, where
        every improver draws its own (None: an evaluation's draws follow its scope)."""
        return SCREENING_DRAWS if self.gate.active else None

    def evaluate(self, improver_source: str, scope: str, *, draws: str | None = None, gated: bool = False,
                 runs: int | None = None) -> MetaEvaluationRecord:
        """û of the improver, recorded under ``scope``. ``draws``: where its model draws come from (unset:
        its own scope); ``gated``: a candidate, which must pass the smoke gate; ``runs`` per task
        (default ``budget.meta_utility_tests``)."""
        h = program_hash(improver_source)
        memo = self.ctx.store.get_meta_evaluation(h, scope)
        if memo is not None:
            return memo
        self.ctx.store.put_program(h, improver_source)  # every scored improver is kept, adopted or not
        n_runs = runs or self.ctx.config.budget.meta_utility_tests
        if gated and self.gate.active:
            early = self._without_model(improver_source, h, scope, n_runs)
            if early is not None:
                return early
        jobs = [(task, j) for task in self.ctx.tasks for j in range(n_runs)]
        # Runs are independent (own scope for replay, own budgets), so the order they finish in changes
        # nothing recorded; results are gathered in job order. CPU work is bounded by the executor's slots.
        workers = resolve(self.ctx.config.sandbox.parallel, len(jobs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mu") as pool:
            futures = [pool.submit(self._run, improver_source, scope, draws, *job) for job in jobs]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                for f in futures:  # e.g. a run-wide cap was hit: do not start runs that cannot finish
                    f.cancel()
                raise
        return self._record(h, scope, results)

    def _record(self, h: str, scope: str, runs: list[ImproverRunResult]) -> MetaEvaluationRecord:
        rec = MetaEvaluationRecord(
            improver_hash=h, scope=scope,
            val=sum(r.val for r in runs) / len(runs), test=sum(r.test for r in runs) / len(runs),
            runs=tuple(runs))
        self.ctx.store.put_meta_evaluation(rec)
        self.ctx.reporter.event("meta_evaluation", scope=scope, improver=h, val=rec.val, test=rec.test,
                                model_calls=self.ctx.model_calls())
        return rec

    def _without_model(self, source: str, h: str, scope: str, n_runs: int) -> MetaEvaluationRecord | None:
        """A candidate's evaluation decided without any model call: its AST twin's (scored once), or
        û = 0 when it fails the smoke gate. None: it must really run."""
        twin = self.gate.twin(source) if scope == screening_scope(h) else None
        known = self.ctx.store.get_meta_evaluation(twin, screening_scope(twin)) if twin else None
        if known is not None:
            rec = MetaEvaluationRecord(improver_hash=h, scope=scope, val=known.val, test=known.test,
                                       runs=known.runs)
            self.ctx.store.put_meta_evaluation(rec)
            return rec
        status, reason = self.gate.smoke(source)
        if status == "pass":
            return None
        runs = [ImproverRunResult(task=task.name, run=j, verdict=SMOKE_FAILED, error=reason)
                for task in self.ctx.tasks for j in range(n_runs)]
        return self._record(h, scope, runs)

    def _run(self, improver_source: str, scope: str, draws: str | None, task: Task, j: int) -> ImproverRunResult:
        budget = ImproverBudget.of(self.ctx.config)
        # the model of [model.improver] when the run has one
        lm = budget.language_model(self.ctx.recorder, self.ctx.config.model.for_role("improver"),
                                   scope=f"{scope}/{task.name}/run{j}", role="improver",
                                   draws=f"{draws}/{task.name}/run{j}" if draws else None)
        utility = UtilityService(self.ctx.scorer, task, budget.utility_calls)
        out = budget.run(self.ctx.executor, improver_source, task.seed_solution, utility, lm)
        run = ImproverRunResult(task=task.name, run=j, verdict=out.verdict, error=out.error,
                                lm_calls=out.lm_calls, lm_responses=out.lm_responses,
                                utility_calls=out.utility_calls)
        self.ctx.store.log_improver_run(scope, task.name, j, out.verdict, out.host_seconds)
        if out.result is not None:
            val = self.ctx.scorer.evaluate(task, out.result, "val")
            test = self.ctx.scorer.evaluate(task, out.result, "test")
            run = replace(run, solution_hash=val.program_hash, val=val.score, test=test.score)
        self.ctx.reporter.event("improver_run", scope=scope, task=task.name, run=j, verdict=out.verdict,
                                val=run.val, model_calls=self.ctx.model_calls())
        return run


class MetaUtilityService:
    """û as the ``utility`` of a self-improvement step: validation score, ``budget`` calls, then 0.
    Repeated calls on the same improver reuse its recorded evaluation. Each candidate is first repaired
    against ``parent`` (the improver being improved) and must pass the smoke gate; all are screened on
    the same model draws."""

    def __init__(self, meta: MetaUtility, description: str, budget: int, parent: str | None = None,
                 step: int | None = None, replies_scope: str | None = None) -> None:
        self.meta = meta
        self._description = description
        self.budget = budget
        self.parent = parent
        #: the self-improvement step this service serves, and where its model replies are recorded: each
        #: candidate is stored as a version of that step with its author (engine/provenance.py)
        self.step = step
        self.replies_scope = replies_scope
        self.uses = 0

    @property
    def description(self) -> str:
        return self._description

    def __call__(self, improver_source: Any) -> float:
        rec = self._evaluate(improver_source)
        return rec.val if rec is not None else 0.0

    def feedback(self, improver_source: Any) -> str:
        """One call of the budget, like ``__call__``: û and how each run went (verdict, validation score,
        error), the improver-level analogue of a solution's wrong instances. Validation scores only."""
        rec = self._evaluate(improver_source)
        if rec is None:
            return "meta-utility 0.000: not an improver, or the meta-utility budget is used up"
        lines = [f"meta-utility {rec.val:.3f} over {len(rec.runs)} runs"]
        for r in rec.runs:
            lines.append(f"- {r.task} run {r.run}: {r.verdict}, validation {r.val:.3f}, {r.lm_responses} model "
                         f"replies" + (f"; {clean_text(r.error, 160)}" if r.error else ""))
        return "\n".join(lines)

    def _evaluate(self, improver_source: Any) -> MetaEvaluationRecord | None:
        self.uses += 1
        # A program over the size cap is refused before the host repairs, parses, stores or runs any of it
        # (the call still counts).
        if self.uses > self.budget or not isinstance(improver_source, str) or not improver_source.strip() \
                or too_large(improver_source) is not None:
            return None
        source = self.meta.gate.repaired(improver_source, self.parent) if self.parent else improver_source
        self._record_candidate(improver_source, source)
        return self.meta.evaluate(source, screening_scope(program_hash(source)), draws=self.meta.screening_draws,
                                  gated=True)

    def _record_candidate(self, proposal: str, source: str) -> None:
        """Store a step's candidate as a version (origin ``candidate``) with its author, so the lineage
        shows every candidate a step scored, rejected and smoke-failed ones included."""
        if self.step is None or self.parent is None:
            return
        store = self.meta.ctx.store
        h = program_hash(source)
        if store.get_improver(h) is not None:
            return
        replies = store.completion_texts(self.replies_scope) if self.replies_scope else []
        store.put_improver(ImproverRecord(hash=h, source=source, parent=program_hash(self.parent), origin="candidate",
                                          iteration=self.step, author=author_of(proposal, source, replies)))
