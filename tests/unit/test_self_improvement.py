"""Self-improvement that happens: smoke gate, repair in the engine, common random numbers, the
small-model improver's own search and the final paired comparison. SCRIPTED model replies drive the
real sandbox and store."""

from __future__ import annotations

import re

from selftaught.analysis.paired import paired_runs
from selftaught.engine.meta_utility import screening_scope
from selftaught.engine.smoke import SMOKE_FAILED
from selftaught.improvers import improver_source
from selftaught.models.base import ChatRequest
from selftaught.store import RunStore
from selftaught.store.scopes import final_scope

GOOD = "```python\ndef algorithm(xs):\n    return max(xs)\n```\n"
BAD = "```python\ndef algorithm(xs):\n    return min(xs)\n```\n"
NO_CODE = "I would rather not."


def partial(request: ChatRequest) -> str:
    """Downstream: a correct reply for about one request seed in three (the 135M model's ~0.2);
    prompts showing an improver get no code, so the improver's own variants are the only candidates."""
    if "improve_algorithm" in request.user:
        return NO_CODE
    return GOOD if (request.seed or 0) % 3 == 0 else BAD


def meta_reply(improver_reply: str):
    def respond(request: ChatRequest) -> str:
        return improver_reply if "improve_algorithm" in request.user else GOOD

    return respond


CRASHING = ("```python\ndef improve_algorithm(initial_solution, utility, language_model):\n"
            "    return language_model.batch_prompt('x', ['y'], 0.2)[0].nosuchattribute\n```")


def test_a_candidate_that_fails_the_smoke_gate_scores_zero_without_model_calls(run_scripted):
    result, model = run_scripted(meta_reply(CRASHING), improver="seed", repair=False)
    store = RunStore(result.run_dir)
    step = store.iterations()[1]
    assert not step.adopted and step.verdict == "rejected" and step.error.startswith(SMOKE_FAILED)
    cand = store.get_meta_evaluation(step.candidate_hash, screening_scope(step.candidate_hash))
    assert cand.val == 0.0 and {r.verdict for r in cand.runs} == {SMOKE_FAILED}
    assert all(r.lm_calls == 0 for r in cand.runs)
    # iteration 0: 2 runs x 6 replies; step 1: 6 meta replies; the candidate itself: none
    assert len(model.requests) == 12 + 6


def test_repair_leaves_a_program_that_loads_to_the_gate(run_scripted):
    # Repair fixes text damage; an improver that loads and then fails is the model's choice, judged as is.
    result, _ = run_scripted(meta_reply(CRASHING), improver="seed")
    store = RunStore(result.run_dir)
    step = store.iterations()[1]
    assert step.error.startswith(SMOKE_FAILED)
    assert "nosuchattribute" in store.get_improver(step.candidate_hash).source
    assert all(r.source_hash == r.raw_hash for r in store.repairs())


def test_repair_turns_a_cut_rewrite_into_a_working_candidate_and_records_both(run_scripted):
    compact = improver_source("compact")[0]
    cut = compact.replace("temperature=0.2)", "temperature=0.3").replace(
        "    return best_solution\n", "    return best_solution\n" * 5)
    reply = f"Here it is:\n```python\n{cut}```\n```"
    # The paper's seed improver returns its best-scoring rewrite: here the one (cut) reply it got.
    result, _ = run_scripted(meta_reply(reply), improver="seed")
    store = RunStore(result.run_dir)
    step = store.iterations()[1]
    assert step.candidate_hash and step.verdict == "rejected"  # it works, but is no better than 1.0
    repaired = store.get_improver(step.candidate_hash).source
    assert "temperature=0.3)" in repaired and repaired.count("return best_solution") == 1
    cand = store.get_meta_evaluation(step.candidate_hash, screening_scope(step.candidate_hash))
    assert {r.verdict for r in cand.runs} == {"ok"} and cand.val == 1.0
    [rec] = [r for r in store.repairs() if r.source_hash == step.candidate_hash]
    assert store.get_program(rec.raw_hash) != repaired and "close open brackets and strings" in rec.steps

    off, _ = run_scripted(meta_reply(reply), name="off", improver="seed", repair=False)
    step_off = RunStore(off.run_dir).iterations()[1]
    assert step_off.error.startswith(SMOKE_FAILED) and step_off.candidate_val == 0.0


def test_candidates_are_screened_on_common_random_numbers(run_scripted):
    result, _model = run_scripted(partial, improver="small", **{"budget.meta_utility_tests": 4})
    store = RunStore(result.run_dir)
    root = store.iterations()[0].improver_hash
    parent = store.get_meta_evaluation(root, screening_scope(root))
    variants = [m for m in store.meta_evaluations()
                if m.scope.startswith("mu/") and m.improver_hash != root]
    more = [m for m in variants if "SAMPLES = 3" in store.get_program(m.improver_hash)]
    assert more, "the SAMPLES + 2 variant was screened"
    # Same draws: the variant replays the parent's reply of run j and adds a second, so it can only
    # gain on every run; fresh draws would lose some runs.
    diff = paired_runs(parent.runs, more[0].runs, "val")
    assert diff is not None and diff.losses == 0 and diff.n == 4
    assert store.model_event_counts()["hits"] >= 4


def test_the_small_improver_adopts_a_variant_and_the_final_comparison_is_paired(run_scripted):
    result, _ = run_scripted(partial, improver="small", iterations=2,
                             **{"budget.meta_utility_tests": 6, "budget.final_tests": 6})
    store = RunStore(result.run_dir)
    its = store.iterations()
    assert any(it.adopted for it in its[1:]), its
    adopted = store.get_improver(its[-1].improver_hash)
    start = store.get_improver(its[0].improver_hash)

    def constants(source: str) -> list[tuple[str, str]]:
        return re.findall(r"^(ROUNDS|SAMPLES|REFINE|FEEDBACK) = (\S+)", source, re.MULTILINE)

    assert adopted.source.count("\nROUNDS = ") == 1 and constants(adopted.source) != constants(start.source)
    # Provenance: the adopted variant is the improver's own edit of itself, not a model reply; every
    # variant it scored is a version of the lineage (origin "candidate"), adopted or not.
    assert adopted.author == "improver" and start.author == "people"
    candidates = [imp for imp in store.improvers() if imp.origin == "candidate"]
    assert candidates and all(imp.author == "improver" for imp in candidates)
    first = store.get_meta_evaluation(its[0].improver_hash, final_scope(its[0].improver_hash))
    last = store.get_meta_evaluation(its[-1].improver_hash, final_scope(its[-1].improver_hash))
    assert len(first.runs) == len(last.runs) == 6
    diff = paired_runs(first.runs, last.runs, "val")
    assert diff.losses == 0 and diff.mean >= 0


def test_the_small_improver_stops_early_at_a_perfect_score(run_scripted):
    result, model = run_scripted(lambda r: GOOD, iterations=0, improver="small",
                                 **{"budget.meta_utility_tests": 2})
    [meta] = RunStore(result.run_dir).meta_evaluations()
    assert meta.val == 1.0
    assert len(model.requests) == 2 * 1  # one round of SAMPLES = 1 per run, then it stops


def test_show_and_report_give_the_paired_differences_and_the_repair(run_scripted, capsys):
    from selftaught.cli.main import main
    from selftaught.report.html import write_report

    result, _ = run_scripted(partial, improver="small", iterations=2,
                             **{"budget.meta_utility_tests": 6, "budget.final_tests": 6})
    assert main(["show", str(result.run_dir), "--no-analyze"]) == 0
    out = capsys.readouterr().out
    assert "Paired differences" in out and "I_2 vs I_0" in out and "self-improvement: I_2 vs I_0 on 6 fresh" in out
    html = write_report(result.run_dir).read_text()
    assert "Paired differences on the same model draws" in html and "final" in html

    compact = improver_source("compact")[0]
    reply = f"```python\n{compact.replace('temperature=0.2)', 'temperature=0.3')}"
    repaired, _ = run_scripted(meta_reply(reply), name="repaired", improver="seed")
    assert "repaired in the host: close open brackets and strings" in write_report(repaired.run_dir).read_text()
