"""A model per role: ``[model.meta]`` writes improvers, ``[model.improver]`` (or ``[model]``) answers the
improver runs. Replay keys, prices and caps go per model; ``show`` and the report break usage down.

Model replies are SCRIPTED (two ScriptedModels with different ids stand for two models); sandbox, store,
engine, CLI and report are real.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import scripted_config

from selftaught.config import load_config, resume_config
from selftaught.engine.runner import resume_run, start_run
from selftaught.engine.session import role_models
from selftaught.errors import BudgetExhausted, ConfigError, ModelUnavailable
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel
from selftaught.pricing import PriceTable, Usage, usage_by_model_and_role
from selftaught.report import write_report
from selftaught.store import RunStore

SOLUTIONS = ["def algorithm(xs):\n    return max(xs)\n", "def algorithm(xs):\n    return xs[-1]\n", "no code"]
IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    best, score = initial_solution, utility(initial_solution)
    for code in extract_code(language_model.batch_prompt("Be brief.", ["Improve:\\n" + best] * 3, 0.7)):
        if code and utility(code) > score:
            best, score = code, utility(code)
    return best
'''
#: the meta step uses a costly model, the improver runs a cheap one
SPLIT = {"model.name": "gpt-4o-mini", "model.meta.name": "gpt-4o", "model.meta.max_tokens": 2048,
         "iterations": 2, "budget.meta_utility_calls": 2, "adoption": "nonzero"}


def meta_responder(request: ChatRequest) -> str:
    return "```python\n" + IMPROVER.replace("Be brief.", f"Be brief ({request.seed % 5}).") + "```"


def improver_responder(request: ChatRequest) -> str:
    body = SOLUTIONS[request.seed % 3]
    return "```python\n" + body + "```" if "def" in body else body


def models() -> tuple[ScriptedModel, ScriptedModel]:
    return (ScriptedModel(responder=improver_responder, model_id="scripted:small"),
            ScriptedModel(responder=meta_responder, model_id="scripted:big"))


def split_run(tmp_path: Path, name: str = "split", **sets: object):
    path = tmp_path / "improver.py"
    path.write_text(IMPROVER)
    small, big = models()
    cfg = scripted_config(**{**SPLIT, "improver": str(path), **sets})
    return start_run(cfg, provider=small, providers={"meta": big}, run_dir=tmp_path / name), small, big


def recorded(run_dir: Path) -> dict:
    """Everything a run recorded that must replay exactly (timings dropped)."""
    store = RunStore(run_dir)
    return {
        "completions": sorted((c.key, c.model, c.scope, c.occurrence, c.text, c.role, c.request["model"])
                              for c in store.completions()),
        "evaluations": sorted((e.task, e.split, e.program_hash, e.score, e.verdict) for e in store.evaluations()),
        "meta": sorted((m.improver_hash, m.scope, m.val, m.test, str(m.runs)) for m in store.meta_evaluations()),
        "iterations": [(i.iteration, i.improver_hash, i.candidate_hash, i.adopted, i.val, i.test, i.verdict)
                       for i in store.iterations()],
        "improvers": sorted((i.hash, i.source, i.parent) for i in store.improvers()),
    }


def test_a_role_section_takes_what_it_does_not_set_from_model():
    cfg = load_config(overrides={"model.provider": "openai", "model.base_url": "http://127.0.0.1:9/v1",
                                 "model.name": "small", "model.meta.name": "big", "model.meta.timeout": 9.0})
    meta, improver = cfg.model.for_role("meta"), cfg.model.for_role("improver")
    assert (meta.provider, meta.base_url, meta.name, meta.timeout) == ("openai", "http://127.0.0.1:9/v1", "big", 9.0)
    assert improver.name == "small" and cfg.model.improver is None and cfg.model.names() == ["small", "big"]
    again = resume_config(cfg.model_dump(mode="json"))  # stored with the role section in full
    assert again == cfg and again.model.for_role("meta") == meta


def test_role_section_errors_and_what_a_resume_may_change():
    with pytest.raises(ConfigError, match=r"unknown key 'model.meta.nmae' \(did you mean 'name'\?\)"):
        load_config(sets=["model.meta.nmae=x"])
    stored = load_config(sets=["model.meta.name=big"]).model_dump(mode="json")
    assert resume_config(stored, ["model.meta.base_url='http://h/v1'"]).model.meta.base_url == "http://h/v1"
    with pytest.raises(ConfigError, match=r"model\.meta\.name cannot change when resuming"):
        resume_config(stored, ["model.meta.name=other"])


def test_a_role_that_changes_only_max_tokens_shares_the_providers():
    cfg = load_config(overrides={"model.provider": "openai", "model.base_url": "http://127.0.0.1:9/v1",
                                 "model.meta.max_tokens": 99, "model.improver.name": "other"})
    assert set(role_models(cfg)) == {"improver"}


def test_each_role_goes_to_its_own_model_and_is_accounted_per_model(tmp_path):
    result, small, big = split_run(tmp_path)
    assert big.requests and small.requests
    assert all("improve_algorithm" in r.user and r.model == "gpt-4o" and r.max_tokens == 2048 for r in big.requests)
    assert all("improve_algorithm" not in r.user and r.model == "gpt-4o-mini" for r in small.requests)
    completions = RunStore(result.run_dir).completions()
    assert {(c.role, c.model, c.request["model"]) for c in completions} == {
        ("meta", "scripted:big", "gpt-4o"), ("improver", "scripted:small", "gpt-4o-mini")}
    usage = usage_by_model_and_role(completions, PriceTable())
    assert set(usage) == {("gpt-4o", "meta"), ("gpt-4o-mini", "improver")}
    assert usage["gpt-4o", "meta"].calls == len(big.requests)
    assert usage["gpt-4o-mini", "improver"].calls == len(small.requests)
    big_rate = usage["gpt-4o", "meta"].usd / usage["gpt-4o", "meta"].tokens
    small_rate = usage["gpt-4o-mini", "improver"].usd / usage["gpt-4o-mini", "improver"].tokens
    assert big_rate > 10 * small_rate  # each priced at its own model's rate
    assert result.usage["meta"].calls == len(big.requests)
    assert {k: u.calls for k, u in result.usage_by_model.items()} == {k: u.calls for k, u in usage.items()}

    proc = subprocess.run([sys.executable, "-m", "selftaught.cli.main", "show", str(result.run_dir), "--no-analyze"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "meta model scripted / gpt-4o" in proc.stdout
    assert f"gpt-4o as meta: {len(big.requests):,} calls sent" in proc.stdout
    assert f"gpt-4o-mini as improver: {len(small.requests):,} calls sent" in proc.stdout
    html = write_report(result.run_dir).read_text()
    assert f'<td class="l">gpt-4o</td><td class="l">meta</td><td class="">{len(big.requests)}</td>' in html
    assert f'<td class="l">gpt-4o-mini</td><td class="l">improver</td><td class="">{len(small.requests)}</td>' in html


def test_a_split_run_replays_bit_exactly_and_keys_each_model_apart(tmp_path):
    result, _, _ = split_run(tmp_path)
    replay = tmp_path / "replay"
    shutil.copytree(result.run_dir, replay)
    with sqlite3.connect(replay / "run.sqlite") as db:  # keep only the model cache: recompute the rest
        for table in ("evaluations", "meta_evaluations", "iterations", "programs", "improvers"):
            db.execute(f"DELETE FROM {table}")
    wrong = tmp_path / "wrong"
    shutil.copytree(replay, wrong)
    small, big = (ScriptedModel(replies=["unused"], model_id=m) for m in ("scripted:small", "scripted:big"))
    again = resume_run(replay, provider=small, providers={"meta": big}, offline=True)
    assert again.model_calls_sent == 0 and not small.requests and not big.requests
    assert recorded(replay) == recorded(result.run_dir)
    with pytest.raises(ModelUnavailable):  # the meta step's replies are keyed to its model, not [model]'s
        resume_run(wrong, provider=ScriptedModel(replies=["unused"], model_id="scripted:small"), offline=True,
                   providers={"meta": ScriptedModel(replies=["unused"], model_id="scripted:small")})


def test_a_cap_on_the_costly_model_stops_the_run_and_names_its_key(tmp_path):
    with pytest.raises(BudgetExhausted, match=r"""cost cap cost.models."gpt-4o".max_model_calls = 1 reached"""):
        split_run(tmp_path, "capped", **{"cost.models": {"gpt-4o": {"max_model_calls": 1}}})
    usage = usage_by_model_and_role(RunStore(tmp_path / "capped").completions(), PriceTable())
    assert usage.get(("gpt-4o", "meta"), Usage()).calls <= 1  # a hard cap: never over
    assert usage["gpt-4o-mini", "improver"].calls > 1  # the cheap model was not capped
    small, big = models()
    resume_run(tmp_path / "capped", provider=small, providers={"meta": big},
               sets=["cost.models={\"gpt-4o\" = {max_model_calls = 100}}"])
    assert [i.iteration for i in RunStore(tmp_path / "capped").iterations()] == [0, 1, 2]


def test_the_example_config_splits_the_roles():
    cfg = load_config(Path(__file__).parents[2] / "examples" / "model_per_role.toml")
    assert (cfg.model.for_role("meta").name, cfg.model.for_role("meta").provider) == ("gpt-4o", "openai")
    assert cfg.model.for_role("improver").name == "gpt-4o-mini" and cfg.cost.models["gpt-4o"].max_usd == 10.0
