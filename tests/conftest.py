"""Shared test helpers. Model replies in unit tests are SCRIPTED (ScriptedModel), named as such; the
sandbox, store and engine are real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from selftaught.config import RunConfig, load_config
from selftaught.engine.runner import RunResult, start_run
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel

FIXED_MAX = "Sure:\n```python\ndef algorithm(xs):\n    return max(xs)\n```\n"


def scripted_config(**sets: object) -> RunConfig:
    """A small, fast configuration for scripted-model runs."""
    base = {"task": "max_list", "improver": "compact", "iterations": 1, "model.provider": "scripted",
            "budget.meta_utility_tests": 2, "budget.improver_seconds": 30.0}
    base.update(sets)
    return load_config(overrides=base)


@pytest.fixture
def run_scripted(tmp_path: Path) -> Callable[..., tuple[RunResult, ScriptedModel]]:
    def go(responder: Callable[[ChatRequest], str], name: str = "run", **sets: object
           ) -> tuple[RunResult, ScriptedModel]:
        model = ScriptedModel(responder=responder)
        return start_run(scripted_config(**sets), provider=model, run_dir=tmp_path / name), model

    return go
