"""Self-improvement: I_t = I_{t-1}(û, I_{t-1}, L). The improver improves its own source.

Iteration 0 scores the starting improver. Every finished iteration is committed to the store before the
next begins, and everything inside an iteration is memoised (model replies by replay key, evaluations by
program hash), so a run killed at any point resumes where it stopped without repeating work.
"""

from __future__ import annotations

import time

from selftaught.engine.adoption import decide
from selftaught.engine.budget import ImproverBudget
from selftaught.engine.context import EngineContext
from selftaught.engine.meta_utility import MetaUtility, MetaUtilityService, describe, screening_scope
from selftaught.engine.programs import program_hash
from selftaught.engine.provenance import author_of
from selftaught.engine.smoke import SMOKE_FAILED
from selftaught.improvers import BUILTIN
from selftaught.store import ImproverRecord, IterationRecord, MetaEvaluationRecord
from selftaught.store.scopes import confirm_parent_scope, confirm_scope, final_scope

#: Origins of a starting improver that people wrote: a built-in one or a file the user gave.
HUMAN_WRITTEN = frozenset(BUILTIN) | {"file"}


def _calls_since_start(ctx: EngineContext, t: int) -> int:
    """Model calls of iteration ``t`` so far: completions recorded since it first began. The starting
    count is stored once, so a run killed mid-iteration and resumed reports what an uninterrupted run
    would (counting this process's requests would miss what the killed one recorded)."""
    key = f"completions_before_t{t}"
    before = ctx.store.get_meta(key)
    if before is None:
        before = ctx.store.completion_count()
        ctx.store.set_meta(key, before)
    return ctx.store.completion_count() - before


def self_improve(ctx: EngineContext, start_source: str, origin: str) -> list[IterationRecord]:
    """Run (or continue) the loop up to ``config.iterations``; returns every iteration's record."""
    meta = MetaUtility(ctx)
    done = ctx.store.iterations()
    if not done:
        done = [_score_start(ctx, meta, start_source, origin)]
    current = done[-1]
    for t in range(current.iteration + 1, ctx.config.iterations + 1):
        ctx.reporter.event("iteration_start", iteration=t, model_calls=ctx.model_calls())
        current = improvement_step(ctx, meta, t, current)
        ctx.store.put_iteration(current)
        ctx.reporter.event("iteration_end", record=current, model_calls=ctx.model_calls())
    final_comparison(ctx, meta)
    return ctx.store.iterations()


def final_comparison(ctx: EngineContext, meta: MetaUtility) -> tuple[MetaEvaluationRecord, MetaEvaluationRecord] | None:
    """I_0 and I_T on ``budget.final_tests`` fresh paired runs (the same draws for both), when the run
    adopted anything: the held-out gain of the whole self-improvement, free of selection on screening."""
    its = ctx.store.iterations()
    n = ctx.config.budget.final_tests
    if n <= 0 or not its or its[0].improver_hash == its[-1].improver_hash:
        return None
    pair = []
    for it in (its[0], its[-1]):
        rec = ctx.store.get_improver(it.improver_hash)
        assert rec is not None, "every improver in force is stored"
        pair.append(meta.evaluate(rec.source, final_scope(it.improver_hash), draws="final", runs=n))
    return pair[0], pair[1]


def _score_start(ctx: EngineContext, meta: MetaUtility, source: str, origin: str) -> IterationRecord:
    started = time.monotonic()
    h = program_hash(source)
    ctx.store.put_improver(ImproverRecord(hash=h, source=source, parent=None, origin=origin, iteration=0,
                                          author="people" if origin in HUMAN_WRITTEN else ""))
    ctx.reporter.event("iteration_start", iteration=0, model_calls=ctx.model_calls())
    _calls_since_start(ctx, 0)
    ev = meta.evaluate(source, screening_scope(h), draws=meta.screening_draws)
    rec = IterationRecord(iteration=0, improver_hash=h, candidate_hash=None, adopted=True, val=ev.val,
                          test=ev.test, candidate_val=None, candidate_test=None, verdict="ok", error=None,
                          model_calls=_calls_since_start(ctx, 0), seconds=time.monotonic() - started)
    ctx.store.put_iteration(rec)
    ctx.reporter.event("iteration_end", record=rec, model_calls=ctx.model_calls())
    return rec


def improvement_step(ctx: EngineContext, meta: MetaUtility, t: int, parent: IterationRecord) -> IterationRecord:
    """One step: the current improver, given its own source and û, proposes a successor."""
    started = time.monotonic()
    _calls_since_start(ctx, t)
    cfg = ctx.config
    parent_improver = ctx.store.get_improver(parent.improver_hash)
    assert parent_improver is not None, "the parent improver is always stored before its iteration"
    source = parent_improver.source
    scope = f"t{t}/improve"
    utility = MetaUtilityService(meta, describe(ctx), cfg.budget.meta_utility_calls, parent=source, step=t,
                                 replies_scope=scope)
    budget = ImproverBudget.of(cfg)
    lm = budget.language_model(ctx.recorder, cfg.model.for_role("meta"),  # [model.meta] when the run has one
                               scope=scope, role="meta")
    out = budget.run(ctx.executor, source, source, utility, lm, cap_host_seconds=False)

    def kept(verdict: str, error: str | None, cand: str | None = None, cval: float | None = None,
             ctest: float | None = None) -> IterationRecord:
        return IterationRecord(iteration=t, improver_hash=parent.improver_hash, candidate_hash=cand,
                               adopted=False, val=parent.val, test=parent.test, candidate_val=cval, candidate_test=ctest,
                               verdict=verdict, error=error, model_calls=_calls_since_start(ctx, t),
                               seconds=time.monotonic() - started)

    if out.result is None:
        return kept(out.verdict, out.error)
    candidate = meta.gate.repaired(out.result, source)
    cand_hash = program_hash(candidate)
    if cand_hash == parent.improver_hash:
        why = "itself unchanged" if candidate == out.result else "a candidate that repair reduced to itself"
        return kept("unchanged", f"the improver returned {why}", cand_hash)
    author = author_of(out.result, candidate, ctx.store.completion_texts(scope))
    ctx.store.put_improver(ImproverRecord(hash=cand_hash, source=candidate, parent=parent.improver_hash,
                                          origin="iteration", iteration=t, author=author), replace=True)
    screening = meta.evaluate(candidate, screening_scope(cand_hash), draws=meta.screening_draws, gated=True)
    if screening.runs and all(r.verdict == SMOKE_FAILED for r in screening.runs):
        return kept("rejected", f"{SMOKE_FAILED}: {screening.runs[0].error}", cand_hash, 0.0, 0.0)
    # Paired: the parent on the candidate's screening draws (recorded already: it was screened too).
    parent_screen = meta.evaluate(source, screening_scope(parent.improver_hash), draws=meta.screening_draws)
    draws = f"t{t}/confirm"
    decision = decide(cfg.adoption, parent_screen.val, screening,
                      confirm=lambda: meta.evaluate(candidate, confirm_scope(t, cand_hash), draws=draws),
                      confirm_parent=lambda: meta.evaluate(
                          source, confirm_parent_scope(t, parent.improver_hash), draws=draws))
    ev = decision.evaluation
    if not decision.adopted:
        return kept("rejected", decision.reason, cand_hash, ev.val, ev.test)
    return IterationRecord(iteration=t, improver_hash=cand_hash, candidate_hash=cand_hash, adopted=True,
                           val=ev.val, test=ev.test, candidate_val=ev.val, candidate_test=ev.test,
                           verdict="adopted", error=decision.reason, model_calls=_calls_since_start(ctx, t),
                           seconds=time.monotonic() - started)
