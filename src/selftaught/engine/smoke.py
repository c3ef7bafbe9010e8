"""The smoke gate: a candidate improver must work once before it may spend model calls.

It runs the candidate as a downstream improver with a SCRIPTED language model that answers every
prompt with the task's reference solution (``Task.reference_solution``; the seed solution when the task
ships none), under the real sandbox and the real utility. The candidate passes when it returns a
program that scores at least the seed solution's validation score on every task. It costs no model
calls and about 0.1 s, and it is what tells a repaired-but-broken improver from a working one: a
parse-only check let every broken candidate through.
"""

from __future__ import annotations

from typing import Any

from selftaught.engine.context import EngineContext
from selftaught.engine.improver import LOAD_FAILED, run_improver
from selftaught.engine.language_model import BUDGET_EXCEEDED
from selftaught.engine.repair import Check
from selftaught.engine.utility import UtilityService
from selftaught.sandbox.executor import RefusedCall
from selftaught.tasks.base import Task

#: Wall-clock limit of one smoke run: a scripted model answers at once, so a working improver is quick.
SMOKE_SECONDS = 30.0
SMOKE_FAILED = "smoke_failed"


class ReferenceModel:
    """A scripted ``language_model`` (no model behind it): every reply is the reference solution in a
    python block. Budgets are enforced like the real service so budget-aware improvers behave."""

    def __init__(self, solution: str, budget: int, max_responses_per_call: int) -> None:
        self.reply = f"```python\n{solution.rstrip()}\n```\n"
        self.budget = budget
        self.max_responses_per_call = max_responses_per_call
        self.calls = 0
        self.responses = 0

    def proxy_spec(self) -> dict[str, Any]:
        return {"__proxy__": "language_model", "budget": self.budget,
                "max_responses_per_call": self.max_responses_per_call}

    def _answer(self, n: int) -> list[str]:
        if self.calls >= self.budget:
            raise RefusedCall(BUDGET_EXCEEDED)
        if n > self.max_responses_per_call:
            raise RefusedCall(f"AssertionError: at most {self.max_responses_per_call} responses per call")
        self.calls += 1
        self.responses += max(n, 0)
        return [self.reply] * max(n, 0)

    def handle(self, method: str, args: list) -> Any:
        if method == "prompt":
            n = args[2] if len(args) > 2 and isinstance(args[2], int) else 1
            return self._answer(n)
        if method == "batch_prompt":
            messages = args[1] if len(args) > 1 and isinstance(args[1], list) else []
            return self._answer(len(messages)) if messages else []
        raise RefusedCall(f"language_model has no method {method!r}")


def reference_of(task: Task) -> str:
    return task.reference_solution or task.seed_solution


def smoke_test(ctx: EngineContext, improver_source: str) -> tuple[Check, str | None]:
    """("pass", None) when the improver passes on every task, else ("weak" or "broken", why)."""
    cfg = ctx.config
    for task in ctx.tasks:
        floor = ctx.scorer.evaluate(task, task.seed_solution, "val").score
        lm = ReferenceModel(reference_of(task), cfg.budget.language_model_calls, cfg.budget.max_responses_per_call)
        utility = UtilityService(ctx.scorer, task, cfg.budget.utility_calls)
        out = run_improver(ctx.executor, improver_source, task.seed_solution, utility, lm,
                           seconds=min(SMOKE_SECONDS, cfg.budget.improver_seconds), memory_mb=cfg.sandbox.memory_mb)
        if out.result is None:
            # Text damage (it does not load) is for repair to fix; a program that loads and then fails
            # is the model's choice, and the gate judges it as it is.
            status: Check = "broken" if (out.error or "").startswith(LOAD_FAILED) else "weak"
            return status, f"{task.name}: {out.verdict}: {(out.error or '').strip()[-160:]}"
        score = ctx.scorer.evaluate(task, out.result, "val").score
        if score < floor:
            return "weak", f"{task.name}: returned a program scoring {score:.3f} < the seed's {floor:.3f}"
    return "pass", None
