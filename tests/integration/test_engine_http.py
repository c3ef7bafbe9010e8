"""The engine end to end against a REAL OpenAI-compatible server on 127.0.0.1 (llama.cpp's server
serving the embedded SmolLM2-135M): real HTTP, real model, real sandbox, real store."""

from __future__ import annotations

import pytest
from tests.integration.conftest import LLAMA_SERVER_MODEL

from selftaught.config import load_config
from selftaught.engine.runner import resume_run, start_run
from selftaught.store import RunStore

pytestmark = [pytest.mark.integration, pytest.mark.embedded]


def test_self_improvement_over_http_records_everything_and_replays_on_resume(llama_server, tmp_path):
    config = load_config(overrides={
        "task": "max_list", "improver": "compact", "iterations": 1, "model.provider": "openai",
        "model.base_url": llama_server, "model.name": LLAMA_SERVER_MODEL, "model.max_tokens": 96,
        "budget.meta_utility_tests": 1, "budget.max_responses_per_call": 2, "budget.language_model_calls": 1,
        "budget.meta_utility_calls": 3,
    })
    result = start_run(config, run_dir=tmp_path / "run")
    store = RunStore(result.run_dir)
    assert [i.iteration for i in store.iterations()] == [0, 1]
    completions = store.completions()
    assert result.model_calls_sent == len(completions) >= 4  # 2 for I_0's evaluation, 2 for the meta step
    assert all(c.completion_tokens > 0 and c.prompt_tokens > 0 and c.latency > 0 for c in completions)
    assert {c.role for c in completions} == {"improver", "meta"}
    assert store.evaluations() and all(e.tier for e in store.evaluations())

    # Extending the finished run by one iteration re-uses nothing it should not: earlier iterations stay.
    again = resume_run(result.run_dir, iterations=1, offline=True)
    assert again.model_calls_sent == 0
    assert [i.iteration for i in again.iterations] == [0, 1]
