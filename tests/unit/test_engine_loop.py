"""The loop, improvers and budgets, driven by SCRIPTED model replies through the real sandbox."""

from __future__ import annotations

from tests.conftest import FIXED_MAX

from selftaught.models.base import ChatRequest
from selftaught.store import RunStore

PAPER_STYLE_IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    """Beam search over model rewrites, as the paper's improvers write it."""
    expertise = "You are an expert programmer."
    beam = [(utility(initial_solution), initial_solution)]
    calls = 0
    while calls < language_model.budget and len(beam) * 2 < utility.budget:
        new = []
        for _, solution in beam[:2]:
            if calls >= language_model.budget:
                break
            replies = language_model.batch_prompt(expertise, ["Improve:\\n" + solution] * 2, temperature=0.7)
            calls += 1
            for code in extract_code(replies):
                if code:
                    new.append((utility(code), code))
        beam = sorted(beam + new, key=lambda x: -x[0])[:2]
        if calls >= language_model.budget:
            break
    return beam[0][1]
'''


def solution_responder(request: ChatRequest) -> str:
    return FIXED_MAX


def test_seed_improver_fixes_the_solution_and_records_everything(run_scripted):
    result, model = run_scripted(solution_responder, iterations=0, improver="seed")
    store = RunStore(result.run_dir)
    [it0] = store.iterations()
    assert result.seed_solution["max_list"][0] < 0.5
    assert it0.val == 1.0 and it0.test == 1.0
    # 2 meta-utility runs x one batch of min(6, 25) replies
    assert len(model.requests) == 12
    assert len(store.completions()) == 12
    [meta] = store.meta_evaluations()
    assert [r.verdict for r in meta.runs] == ["ok", "ok"]
    assert all(e.tier for e in store.evaluations())


def test_paper_style_improver_runs_unmodified(run_scripted, tmp_path):
    path = tmp_path / "beam.py"
    path.write_text(PAPER_STYLE_IMPROVER)
    result, _model = run_scripted(solution_responder, iterations=0, improver=str(path))
    [meta] = RunStore(result.run_dir).meta_evaluations()
    assert meta.val == 1.0
    assert all(r.lm_calls >= 1 and r.utility_calls >= 2 for r in meta.runs)


GREEDY_IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    language_model.budget = 10 ** 9
    language_model.max_responses_per_call = 1000
    utility.budget = 10 ** 9
    answered, errors = 0, []
    for _ in range(10):
        try:
            language_model.batch_prompt("x", ["go"], temperature=0.0)
            answered += 1
        except Exception as exc:
            errors.append(str(exc))
    for _ in range(30):
        utility.uses = 0
        utility(initial_solution)
    scores = [utility("def algorithm(xs):\\n    return max(xs)\\n") for _ in range(2)]
    return "# answered %d; errors %s; scores %s\\ndef algorithm(xs):\\n    return xs[0]\\n" % (
        answered, errors[:1], scores)
'''


def test_budget_overwrites_inside_the_sandbox_gain_nothing(run_scripted, tmp_path):
    path = tmp_path / "greedy.py"
    path.write_text(GREEDY_IMPROVER)
    result, model = run_scripted(solution_responder, iterations=0, improver=str(path),
                                 **{"budget.meta_utility_tests": 1, "budget.language_model_calls": 4,
                                    "budget.utility_calls": 25})
    store = RunStore(result.run_dir)
    [meta] = store.meta_evaluations()
    source = store.get_program(meta.runs[0].solution_hash)
    assert "# answered 4;" in source  # only the real budget was served
    assert "exceeded your call budget" in source
    assert "scores [0.0, 0.0]" in source  # utility past its 25 calls returns 0, whatever `uses` says
    assert len(model.requests) == 4
    assert meta.runs[0].lm_calls == 4 and meta.runs[0].utility_calls == 32


def test_batch_larger_than_max_responses_is_refused(run_scripted, tmp_path):
    path = tmp_path / "big.py"
    path.write_text("def improve_algorithm(s, utility, language_model):\n"
                    "    return language_model.batch_prompt('x', ['a'] * 7, 0.1)[0]\n")
    result, model = run_scripted(solution_responder, iterations=0, improver=str(path),
                                 **{"budget.meta_utility_tests": 1})
    [meta] = RunStore(result.run_dir).meta_evaluations()
    assert meta.runs[0].verdict == "error"
    assert "at most 6 responses" in (meta.runs[0].error or "")
    assert model.requests == []


def test_hanging_raising_and_non_string_improvers_score_zero_and_the_run_goes_on(run_scripted, tmp_path):
    bodies = {
        "hang": "    while True:\n        pass\n",
        "raise": "    raise RuntimeError('boom')\n",
        "none": "    return None\n",
        "number": "    return 42\n",
    }
    expected = {"hang": "timeout", "raise": "error", "none": "invalid", "number": "invalid"}
    for name, body in bodies.items():
        path = tmp_path / f"{name}.py"
        path.write_text(f"def improve_algorithm(initial_solution, utility, language_model):\n{body}")
        result, _ = run_scripted(solution_responder, name=name, iterations=0, improver=str(path),
                                 **{"budget.meta_utility_tests": 1, "budget.improver_seconds": 1.5})
        [meta] = RunStore(result.run_dir).meta_evaluations()
        assert meta.val == 0.0, name
        assert meta.runs[0].verdict == expected[name], (name, meta.runs[0])


def meta_responder(improver_reply: str):
    """Downstream prompts get the fixed solution; prompts showing an improver get ``improver_reply``."""

    def respond(request: ChatRequest) -> str:
        return improver_reply if "improve_algorithm" in request.user else FIXED_MAX

    return respond


WORSE_IMPROVER = ("```python\ndef improve_algorithm(initial_solution, utility, language_model):\n"
                  "    return 'def algorithm(xs):\\n    return min(xs)\\n'\n```")


def test_adoption_rule_improves_rejects_a_worse_successor_nonzero_adopts_it(run_scripted):
    # The paper's seed improver keeps the best candidate even if worse than itself: a good test of adoption.
    improves, _ = run_scripted(meta_responder(WORSE_IMPROVER), name="improves", improver="seed",
                               adoption="improves")
    [_, step] = RunStore(improves.run_dir).iterations()
    assert not step.adopted and step.verdict == "rejected"
    assert step.val == 1.0  # the parent's score stays in force

    nonzero, _ = run_scripted(meta_responder(WORSE_IMPROVER.replace("min(xs)", "xs[-1]")), name="nonzero",
                              improver="seed", adoption="nonzero")
    [_, step] = RunStore(nonzero.run_dir).iterations()
    assert step.adopted and step.verdict == "adopted" and step.val < 1.0


def test_reply_without_code_is_a_recorded_zero_not_a_crash(run_scripted):
    result, _ = run_scripted(lambda r: "I cannot help with that.", iterations=1, improver="seed")
    store = RunStore(result.run_dir)
    its = store.iterations()
    assert [i.iteration for i in its] == [0, 1]
    assert its[0].val == 0.0
    assert its[1].verdict in ("invalid", "error")
