"""Cost: per-role usage, hard caps that stop a run cleanly, resume after raising a cap, the estimate.

Model replies are SCRIPTED (a function of the request and its replay seed) in the library tests; the CLI
test talks to a real OpenAI-compatible HTTP server on loopback (benchmarks/fake_openai.py) through the
real provider. Sandbox, store and engine are real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.fake_openai import serve
from tests.conftest import scripted_config

from selftaught.config import load_config, resume_config
from selftaught.engine.estimate import estimate
from selftaught.engine.runner import resume_run, start_run
from selftaught.errors import BudgetExhausted, ConfigError
from selftaught.models.base import ChatRequest
from selftaught.models.cost import PriceTable, total, usage_by_role
from selftaught.models.scripted import ScriptedModel
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


def responder(request: ChatRequest) -> str:
    if "improve_algorithm" in request.user:
        return "```python\n" + IMPROVER + "```"
    body = SOLUTIONS[request.seed % 3]
    return "```python\n" + body + "```" if "def" in body else body


SETTINGS = {"iterations": 1, "budget.meta_utility_calls": 2, "adoption": "nonzero", "model.name": "gpt-4o-mini"}


def _go(tmp_path: Path, name: str, **sets: object):
    path = tmp_path / "improver.py"
    path.write_text(IMPROVER)
    model = ScriptedModel(responder=responder)
    cfg = scripted_config(**{**SETTINGS, "improver": str(path), **sets})
    return (lambda: start_run(cfg, provider=model, run_dir=tmp_path / name)), model


def summary(run_dir: Path) -> list:
    return [(i.iteration, i.improver_hash, i.candidate_hash, i.adopted, i.val, i.test)
            for i in RunStore(run_dir).iterations()]


def test_prices_builtin_overridden_dated_and_unknown():
    table = PriceTable(load_config(sets=['cost.prices={"gpt-4o" = {input = 1.0, output = 2.0}}']).cost.prices)
    assert table.usd("gpt-4o", 1_000_000, 500_000) == pytest.approx(2.0)
    assert table.usd("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.price("my-local-model") is None and table.usd("my-local-model", 10**9, 10**9) == 0.0


def test_a_misspelt_key_inside_a_price_is_a_config_error():
    # Found by mypy: the key of a dict of prices is not a section, and looking up its fields crashed.
    with pytest.raises(ConfigError, match=r"unknown key 'cost\.prices\.gpt\.bogus'"):
        load_config(sets=["cost.prices.gpt={input=1, output=2, bogus=3}"])


def test_usage_is_counted_per_role(tmp_path):
    go, model = _go(tmp_path, "run")
    result = go()
    assert set(result.usage) == {"improver", "meta"}
    assert sum(u.calls for u in result.usage.values()) == len(model.requests) == result.model_calls_sent
    recorded = usage_by_role(RunStore(result.run_dir).completions(), PriceTable())
    assert total(recorded).tokens == total(result.usage).tokens > 0
    assert total(result.usage).usd == pytest.approx(total(recorded).usd) and total(recorded).usd > 0


def test_call_cap_stops_cleanly_and_a_resume_with_a_raised_cap_finishes_the_same_run(tmp_path):
    go, reference_model = _go(tmp_path, "reference")
    go()
    sent_uncapped = len(reference_model.requests)
    go, _ = _go(tmp_path, "capped", **{"cost.max_model_calls": 10})
    with pytest.raises(BudgetExhausted, match=r"cost.max_model_calls = 10 reached.*--resume .*capped"):
        go()
    store = RunStore(tmp_path / "capped")
    assert store.get_meta("status") == "budget_exhausted"
    recorded = len(store.completions())
    assert 0 < recorded <= 10  # a hard cap: never exceeded
    with pytest.raises(BudgetExhausted):  # same cap, same stop: nothing new is sent
        resume_run(tmp_path / "capped", provider=ScriptedModel(responder=responder))
    assert len(RunStore(tmp_path / "capped").completions()) == recorded
    resumed_model = ScriptedModel(responder=responder)
    resume_run(tmp_path / "capped", provider=resumed_model, sets=["cost.max_model_calls=1000"])
    assert summary(tmp_path / "capped") == summary(tmp_path / "reference")
    assert len(resumed_model.requests) == sent_uncapped - recorded  # nothing sent twice
    assert RunStore(tmp_path / "capped").get_meta("status") == "finished"


def test_usd_and_token_caps_are_never_exceeded(tmp_path):
    prices = PriceTable()
    for key, cap in (("max_usd", 0.00009), ("max_tokens", 300)):
        go, _ = _go(tmp_path, key, **{f"cost.{key}": cap, "model.max_tokens": 100})
        with pytest.raises(BudgetExhausted, match=f"cost.{key}"):
            go()
        spent = total(usage_by_role(RunStore(tmp_path / key).completions(), prices))
        assert 0 < (spent.usd if key == "max_usd" else spent.tokens) <= cap


def test_resume_may_raise_caps_but_not_change_what_the_run_computes():
    stored = load_config().model_dump(mode="json")
    assert resume_config(stored, ["cost.max_usd=5", "sandbox.executor=ray"]).cost.max_usd == 5
    with pytest.raises(ConfigError, match=r"budget\.utility_calls cannot change when resuming"):
        resume_config(stored, ["budget.utility_calls=3"])


def test_estimate_is_the_paper_arithmetic():
    cfg = load_config(overrides={"iterations": 1, "model.name": "gpt-4o"}, sets=["cost.max_model_calls=500"])
    est = estimate(cfg, n_tasks=1, prompt_chars=4000)
    assert (est.per_improver_run, est.per_meta_evaluation) == (24, 120)
    assert est.per_iteration == 24 + 25 * 120 + 120  # meta run + 25 û calls + confirmation
    assert est.seed_typical_per_iteration == 186  # stop.md: 6 proposals + 6 x 5 x 6
    assert est.total == 120 + est.per_iteration and est.allowed == 500 and est.binding == "max_model_calls"


CODE_REPLY = "```python\ndef algorithm(xs):\n    return max(xs)\n```"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selftaught.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, check=False)


def test_cli_prints_one_line_exits_3_at_a_usd_cap_and_resumes_with_a_raised_cap(tmp_path):
    with serve(reply=lambda user: CODE_REPLY, model="gpt-4o") as url:
        # worst case per call ~$0.004 (a ~1.5 kB prompt + 50 tokens at gpt-4o prices); the run needs ~$0.05
        common = ["--set", "budget.meta_utility_tests=2", "--set", "budget.improver_seconds=60",
                  "--set", "model.max_tokens=50"]
        proc = _cli("run", "--model", "openai", "--base-url", url, "--model-name", "gpt-4o", "--task",
                    "max_list", "--improver", "seed", "--iterations", "1", "--set", "cost.max_usd=0.02",
                    *common, cwd=tmp_path)
        assert proc.returncode == 3, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stopped: cost cap cost.max_usd"), proc.stderr
        assert "model calls the budgets allow at most" in proc.stdout
        [run_dir] = (tmp_path / "runs").iterdir()
        proc = _cli("run", "--resume", str(run_dir), "--set", "cost.max_usd=5", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "already spent by this run" in proc.stdout and "improver:" in proc.stdout
        assert [i.iteration for i in RunStore(run_dir).iterations()] == [0, 1]


def test_estimate_command_and_dry_run_print_the_binding_limit_and_create_nothing(tmp_path):
    for args in (["estimate"], ["run", "--dry-run"]):
        proc = _cli(*args, "--iterations", "1", "--set", "cost.max_model_calls=50", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "model calls the budgets allow at most: 3,264" in proc.stdout
        assert "at most 50 model calls; the first limit to bind: max_model_calls" in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_a_quoted_key_part_is_one_key_dots_and_slashes_included():
    from selftaught.config import parse_override

    assert parse_override('cost.models."org/m-1.5".max_model_calls=3') == (
        ["cost", "models", "org/m-1.5", "max_model_calls"], 3)
    assert parse_override("cost.models.'a=b'.max_usd=2.5") == (["cost", "models", "a=b", "max_usd"], 2.5)
    assert parse_override("budget.utility_calls=10") == (["budget", "utility_calls"], 10)
    cfg = load_config(sets=['cost.models."gpt-4o-mini".max_model_calls=7'])
    assert cfg.cost.models["gpt-4o-mini"].max_model_calls == 7 and '"gpt-4o-mini"' not in cfg.cost.models
    with pytest.raises(ConfigError, match="not a valid key"):
        parse_override('cost.models."a"b.max_usd=1')
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override('cost.models."unclosed.max_usd=1')


def test_the_per_model_cap_hint_raises_the_cap_and_counts_calls_in_flight(tmp_path):
    """The stop message's --set, pasted as printed, raises that model's cap; the calls it counts include
    the ones already sent (in flight at the stop), never '0 sent' after one was."""
    import re
    import shlex

    go, _ = _go(tmp_path, "capped", **{"cost.models": {"gpt-4o-mini": {"max_model_calls": 1}},
                                        "model.concurrency": 3})
    with pytest.raises(BudgetExhausted) as info:
        go()
    message = str(info.value)
    sent = len(RunStore(tmp_path / "capped").completions())
    assert sent == 1 and re.search(r"\(1 model calls sent;", message), message
    hint = shlex.split(message.split("resume with a higher cap: ")[1])
    assert hint[:3] == ["selftaught", "run", "--resume"] and hint[4] == "--set", hint
    try:
        resume_run(tmp_path / "capped", provider=ScriptedModel(responder=responder), sets=[hint[5]])
    except BudgetExhausted as again:  # the raised cap may bind later on: then at the raised value
        assert "max_model_calls = 11 reached (11 model calls sent" in str(again)
    stored = RunStore(tmp_path / "capped").get_meta("config")["cost"]["models"]
    assert set(stored) == {"gpt-4o-mini"} and stored["gpt-4o-mini"]["max_model_calls"] == 11
    assert len(RunStore(tmp_path / "capped").completions()) > 1  # the hint let the run go on


def test_resume_dry_run_prints_the_estimate_and_runs_nothing(tmp_path):
    go, _ = _go(tmp_path, "capped", **{"cost.max_model_calls": 4})
    with pytest.raises(BudgetExhausted):
        go()
    run_dir = tmp_path / "capped"
    before = (len(RunStore(run_dir).completions()), RunStore(run_dir).get_meta("status"))
    proc = _cli("run", "--resume", str(run_dir), "--dry-run", "--set", "cost.max_model_calls=100", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "model calls the budgets allow at most" in proc.stdout and "nothing was run" in proc.stdout
    assert (len(RunStore(run_dir).completions()), RunStore(run_dir).get_meta("status")) == before
    assert RunStore(run_dir).get_meta("config")["cost"]["max_model_calls"] == 4  # the --set was not kept
