"""The strategy taxonomy: hand-written improvers of each category get their label, the seeds get
``plain``, prompt text alone never makes a label, and labels are recorded and counted per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX

from selftaught.analysis.findings_store import FindingsTable
from selftaught.analysis.strategies import (
    CATEGORIES,
    NO_MODEL,
    PLAIN,
    classify,
    classify_run,
    counts_across_runs,
    judge_strategies,
    strategy_counts,
)
from selftaught.models.scripted import ScriptedModel

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "strategies").glob("*.py"))
SEEDS = [p for p in sorted((Path(__file__).parents[2] / "src" / "selftaught" / "improvers").glob("*.py"))
         if p.name != "__init__.py"]


def expected(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    return {label.strip() for label in first.removeprefix("# expected:").split(",")}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_each_hand_written_improver_gets_its_labels(path: Path) -> None:
    labels = classify(path.read_text())
    assert set(labels) == expected(path)
    assert all(why for why in labels.values())  # each label says what triggered it


def test_every_category_has_a_fixture() -> None:
    covered = set().union(*(expected(p) for p in FIXTURES))
    assert set(CATEGORIES) | {PLAIN} <= covered


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_the_seed_improvers_get_the_plain_label(path: Path) -> None:
    # `small` can refine its best program so far (REFINE = 1): the label says so, truthfully.
    assert set(classify(path.read_text())) == ({"iterative_refinement"} if path.stem == "small" else {PLAIN})


def test_words_in_prompts_describe_the_solution_not_the_improver() -> None:
    src = ("def improve_algorithm(s, utility, language_model):\n"
           "    msg = 'Use simulated annealing, a genetic algorithm with crossover and a beam search.'\n"
           "    return language_model.batch_prompt('x', [msg + s], 0.7)[0]\n")
    assert set(classify(src)) == {PLAIN}


def test_an_improver_that_never_asks_the_model_and_one_that_does_not_parse() -> None:
    assert set(classify("def improve_algorithm(s, u, lm):\n    return s\n")) == {NO_MODEL}
    assert classify("def improve_algorithm(:\n") == {}


def test_classify_run_records_labels_and_counts_them_per_run_and_across(run_scripted) -> None:
    annealing = (Path(__file__).parents[1] / "fixtures" / "strategies" / "simulated_annealing.py").read_text()

    def respond(request) -> str:
        return f"```python\n{annealing}\n```" if "improve_algorithm" in request.user else FIXED_MAX

    a, _ = run_scripted(respond, name="a", improver="seed", iterations=1)
    b, _ = run_scripted(lambda r: FIXED_MAX, name="b", improver="seed", iterations=0)
    found_a, found_b = classify_run(a.run_dir), classify_run(b.run_dir)
    assert strategy_counts(found_a)["simulated_annealing"] == 1  # the model-written candidate
    assert strategy_counts(found_a, model_written_only=False)[PLAIN] == 1  # the seed
    with FindingsTable(a.run_dir) as table:
        assert {(f.rule, f.subject) for f in table.all("strategies")} == {(f.rule, f.subject) for f in found_a}
    table_rows = counts_across_runs({"a": found_a, "b": found_b}, model_written_only=False)
    assert table_rows["total"][PLAIN] == 2 and table_rows["total"]["simulated_annealing"] == 1


def test_judge_mode_reads_category_names_from_the_reply() -> None:
    judge = ScriptedModel(replies=["It uses genetic_algorithm and temperature_variation, I think."])
    assert judge_strategies("def improve_algorithm(s, u, lm):\n    return s\n", judge) == {
        "genetic_algorithm", "temperature_variation"}
    assert "```python" in judge.requests[0].user and "bandit_ucb" in judge.requests[0].user
