"""Transfer: a finished run's improvers on other tasks, with SCRIPTED model replies through the real
sandbox, scorer and store. The scripted replies make every cell predictable, so the table is checked
against numbers, not just for shape."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX

from selftaught import transfer
from selftaught.cli.main import main
from selftaught.engine.held_out import held_out_secret
from selftaught.engine.transfer import SEED_SOLUTION
from selftaught.errors import RunStoreError, TaskError
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore
from selftaught.tasks.registry import load_task

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "custom_task.py")
SECOND = "```python\ndef algorithm(xs):\n    return sorted(set(xs))[-2]\n```\n"
# The successor improver the scripted model proposes: it returns its input unchanged, so on any task
# û(I_1) equals u(s) exactly (a weak model's typical "improvement", as the paper observes).
IDENTITY = ("```python\ndef improve_algorithm(initial_solution, utility, language_model):\n"
            "    return initial_solution\n```")


def responder(request: ChatRequest) -> str:
    if "improve_algorithm" in request.user:
        return IDENTITY
    return SECOND if "second largest" in request.user else FIXED_MAX


@pytest.fixture
def finished_run(run_scripted):
    """A max_list run whose step 1 adopts the identity improver ('nonzero' adopts any û > 0)."""
    result, _ = run_scripted(responder, improver="seed", adoption="nonzero", iterations=1)
    its = RunStore(result.run_dir).iterations()
    assert its[1].adopted and its[1].improver_hash != its[0].improver_hash
    return result.run_dir


def cells(records) -> dict[tuple[str, str], object]:
    return {(r.task, r.subject): r for r in records}


def test_transfer_table_has_the_expected_cells_and_is_saved(finished_run: Path) -> None:
    model = ScriptedModel(responder=responder)
    result = transfer(finished_run, f"max_list,{EXAMPLE}", provider=model)
    got = cells(result.records)
    assert [r.subject for r in result.records] == [SEED_SOLUTION, "I_0", "I_1"] * 2
    seed_max, seed_second = got[("max_list", SEED_SOLUTION)], got[("second_largest", SEED_SOLUTION)]
    # u(s) over the run's 20 held-out instances (drawn from its secret): the seed returns xs[0]
    secret = held_out_secret(RunStore(finished_run), 0)
    held_out = load_task("max_list").instances("test", 0, secret)
    expected = sum(i["xs"][0] == max(i["xs"]) for i in held_out) / len(held_out)
    assert seed_max.n == 20 and seed_max.test == pytest.approx(expected)
    assert 0.0 < seed_second.test < 1.0
    for task in ("max_list", "second_largest"):
        i0, i1, s = got[(task, "I_0")], got[(task, "I_1")], got[(task, SEED_SOLUTION)]
        assert i0.n == 2 and i0.test == 1.0  # the seed improver picks the scripted correct solution
        assert i1.test == pytest.approx(s.test)  # the identity improver returns the seed solution
        for r in (i0, i1, s):
            assert 0.0 <= r.test_low <= r.test <= r.test_high <= 1.0
    assert RunStore(finished_run).transfers() == result.records
    assert len(model.requests) == 2 * 2 * 6  # I_0: 2 runs x one batch of 6 per task; I_1 asks nothing


def test_repeated_transfer_replays_through_the_runs_recorder(finished_run: Path) -> None:
    first = transfer(finished_run, EXAMPLE, provider=ScriptedModel(responder=responder))
    assert first.model_calls_sent == 12
    # Forget the memoised meta-evaluations: the improver runs re-execute and must get every reply
    # from the run's model cache (offline: a missing reply would be an error, not a model call).
    with sqlite3.connect(finished_run / "run.sqlite") as db:
        db.execute("DELETE FROM meta_evaluations WHERE scope LIKE 'transfer/%'")
    silent = ScriptedModel(responder=lambda r: pytest.fail("the model was called on a replay"))
    again = transfer(finished_run, EXAMPLE, provider=silent, offline=True)
    assert again.model_calls_sent == 0 and again.model_calls_replayed == 12
    assert [(r.subject, r.test, r.n) for r in again.records] == [(r.subject, r.test, r.n) for r in first.records]


def test_chosen_iterations_and_runs_override(finished_run: Path) -> None:
    result = transfer(finished_run, ["max_list"], iterations=[1], runs=3,
                      provider=ScriptedModel(responder=responder))
    assert [(r.subject, r.n) for r in result.records] == [(SEED_SOLUTION, 20), ("I_1", 3)]


def test_transfer_errors_are_specific(finished_run: Path, tmp_path: Path) -> None:
    model = ScriptedModel(responder=responder)
    with pytest.raises(RunStoreError, match=r"has no iteration 7: choose among 0, 1 \(--iterations 0,1\)"):
        transfer(finished_run, "max_list", iterations=[7], provider=model)
    with pytest.raises(TaskError, match=r"unknown task 'max_lst': did you mean 'max_list'"):
        transfer(finished_run, "max_lst", provider=model)
    with pytest.raises(RunStoreError, match=r"is not a selftaught run"):
        transfer(tmp_path / "nowhere", "max_list", provider=model)


def test_cli_transfer_prints_the_table_and_show_repeats_it(finished_run: Path, capsys, monkeypatch) -> None:
    # The CLI builds the run's own provider from its config; a scripted run's config cannot carry the
    # responder, so hand it over where the provider is made (the only stand-in in this file).
    monkeypatch.setattr("selftaught.engine.session.make_model", lambda config: ScriptedModel(responder=responder))
    assert main(["transfer", str(finished_run), "--tasks", "max_list"]) == 0
    out = capsys.readouterr().out
    assert "Transfer" in out and "û(I_0)" in out and "û(I_1)" in out and "100.0%" in out
    assert main(["show", str(finished_run)]) == 0
    assert "û(I_1)" in capsys.readouterr().out
    assert main(["transfer", str(finished_run), "--tasks", "max_list", "--iterations", "x"]) == 2
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_cli_transfer_takes_the_set_overrides_a_resume_takes(finished_run: Path, capsys, monkeypatch) -> None:
    seen = []

    def provider(config):
        seen.append(config.model.n_threads)
        return ScriptedModel(responder=responder)

    monkeypatch.setattr("selftaught.engine.session.make_model", provider)
    assert main(["transfer", str(finished_run), "--tasks", "max_list", "--set", "model.n_threads=2"]) == 0
    assert seen == [2]
    capsys.readouterr()
    assert main(["transfer", str(finished_run), "--tasks", "max_list", "--set", "seed=5"]) == 2
    assert "--set seed cannot change when resuming" in capsys.readouterr().err  # it would change the results


def test_a_store_made_before_the_transfers_table_gains_it_on_open(tmp_path: Path) -> None:
    from selftaught.store.sqlite import _SCHEMA, DB_NAME

    with sqlite3.connect(tmp_path / DB_NAME) as db:  # what an older selftaught created
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    store = RunStore(tmp_path)  # a new table only: the column change waits for an upgrade (resume --upgrade)
    assert store.transfers() == [] and store.get_meta("migrations") == ["transfers"]
    assert store.get_meta("schema_version") == 1
