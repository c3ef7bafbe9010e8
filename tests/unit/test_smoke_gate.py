"""The smoke gate as a candidate sees it: the real language_model service's checks and errors, replies
worded like a model's that do not hand out the reference's text, calls paced like the run's model, and
the same limits as a real run (through the real sandbox)."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path
from typing import cast

import pytest

from selftaught.engine.budget import ImproverBudget
from selftaught.engine.language_model import LanguageModelService
from selftaught.engine.smoke import PACE_CAP, SMOKE_FAILED, SmokeModel, model_pace
from selftaught.models.recorder import Recorder
from selftaught.sandbox.executor import RefusedCall
from selftaught.store import CompletionRecord, RunStore
from selftaught.tasks.max_list import MaxOfList

REFERENCE = MaxOfList.reference_solution or ""
BUDGET = ImproverBudget(language_model_calls=2, max_responses_per_call=3, utility_calls=5, seconds=60.0,
                        host_seconds=100.0, memory_mb=1024)


def smoke(pace: float = 0.0, seed: int = 1) -> SmokeModel:
    return SmokeModel(REFERENCE, BUDGET, model="m", max_tokens=64, pace=pace, seed=seed)


def real() -> LanguageModelService:
    return LanguageModelService(cast(Recorder, None), model="m", scope="s", budget=2, max_responses_per_call=3,
                                max_tokens=64)


def _outcome(service: LanguageModelService, method: str, args: list) -> str:
    try:
        service.handle(method, args)
    except RefusedCall as exc:
        return f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return f"{type(exc).__name__}: {exc}"
    return "answered"


@pytest.mark.parametrize(("method", "args"), [
    ("prompt", ["e", "m", 4]), ("prompt", ["e", "m", 0]), ("prompt", ["e", "m", float("inf")]),
    ("prompt", ["e", 5]), ("prompt", ["e"]), ("prompt", ["e", "m", 1, float("nan")]),
    ("batch_prompt", ["e", ["a"] * 4]), ("batch_prompt", ["e", [1]]), ("nosuch", []),
])
def test_refusals_are_the_real_services(method: str, args: list) -> None:
    assert _outcome(smoke(), method, args) == _outcome(real(), method, args)


def test_the_budget_runs_out_as_in_a_real_run() -> None:
    lm = smoke()
    assert len(lm.handle("prompt", ["e", "m", 3])) == 3
    assert lm.handle("batch_prompt", ["e", ["a", "b"]]) and lm.calls == 2
    assert _outcome(lm, "prompt", ["e", "m"]) == "refused: Error: You have exceeded your call budget."


def test_replies_read_like_a_models_and_are_the_same_program_not_the_references_text() -> None:
    replies = [r for seed in range(10) for r in smoke(seed=seed).handle("prompt", ["e", "m", 3])]
    blocks = [re.findall(r"```python\n(.*?)```", r, re.S) for r in replies]
    assert all(len(b) == 1 for b in blocks)
    assert all(not r.startswith("```") for r in replies)  # a sentence first, as models write
    assert len(set(replies)) > 3  # sampled replies differ
    for [code] in blocks:
        assert code.strip() != REFERENCE.strip()
        namespace: dict = {}
        exec(compile(ast.parse(code), "<reply>", "exec"), namespace)
        assert namespace["algorithm"]([3, 9, 4]) == 9


def test_a_call_takes_about_the_pace_and_never_more_than_the_cap() -> None:
    started = time.monotonic()
    smoke(pace=0.3).handle("prompt", ["e", "m", 2])
    assert 0.2 <= time.monotonic() - started < 0.6
    assert smoke(pace=1e9).pace == PACE_CAP
    started = time.monotonic()
    smoke(pace=0.0).handle("prompt", ["e", "m", 2])
    assert time.monotonic() - started < 0.05


def test_the_pace_is_the_median_of_the_runs_recent_improver_completions(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run", create=True)
    for i, latency in enumerate([0.05, 0.07, 9.0, 0.06, 30.0]):
        store.put_completion(CompletionRecord(key=f"k{i}", scope="s", occurrence=0, model="m", request={},
                                              text="", latency=latency, role="improver"))
    store.put_completion(CompletionRecord(key="meta", scope="s", occurrence=0, model="m", request={}, text="",
                                          latency=99.0, role="meta"))

    class Ctx:
        pass

    ctx = Ctx()
    ctx.store = store  # type: ignore[attr-defined]
    assert model_pace(ctx) == pytest.approx(0.07)  # type: ignore[arg-type]
    for i in range(6):  # slow completions: the pace stops at the cap
        store.put_completion(CompletionRecord(key=f"slow{i}", scope="s", occurrence=0, model="m", request={},
                                              text="", latency=4.0, role="improver"))
    assert model_pace(ctx) == pytest.approx(PACE_CAP)  # type: ignore[arg-type]
    store.close()


#: Fails on purpose, its message what it saw: the smoke gate reports it, and so does a real run.
PROBE = '''import resource, time

def improve_algorithm(initial_solution, utility, language_model):
    started = time.monotonic()
    replies = language_model.prompt("expert", "improve this", 2)
    seen = {"cpu": resource.getrlimit(resource.RLIMIT_CPU)[0], "as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "replies": len(replies), "budget": language_model.budget}
    raise RuntimeError("SEEN" + repr(sorted(seen.items())).replace(" ", ""))
'''


def test_a_candidate_sees_the_same_limits_in_the_gate_as_in_a_real_run(run_scripted, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    fenced = f"Here:\n```python\n{PROBE}```\n"
    longer = {"budget.improver_seconds": 75.0}  # longer than the gate's wall clock: its rlimits must not say so
    gated, _ = run_scripted(lambda r: fenced if "improve_algorithm" in r.user else REFERENCE, name="gated",
                            improver="seed", **longer)
    step = RunStore(gated.run_dir).iterations()[1]
    assert step.error and step.error.startswith(SMOKE_FAILED), step
    in_gate = re.search(r"SEEN(\[.*?\])", step.error)
    really, _ = run_scripted(lambda r: REFERENCE, name="real", improver=str(probe), iterations=0, **longer)
    runs = RunStore(really.run_dir).meta_evaluations()[0].runs
    in_run = re.search(r"SEEN(\[.*?\])", runs[0].error or "")
    assert in_gate and in_run, (step.error, runs[0].error)
    assert in_gate.group(1) == in_run.group(1), json.dumps([in_gate.group(1), in_run.group(1)])
