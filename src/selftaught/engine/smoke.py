"""The smoke gate: a candidate improver must work once before it may spend model calls.

It runs the candidate as a downstream improver with a SCRIPTED language model under the real sandbox and
the real utility. The candidate passes when it returns a program that scores at least the seed
solution's validation score on every task. It costs no model calls, and it is what tells a
repaired-but-broken improver from a working one: a parse-only check let every broken candidate through.

A candidate must not be able to tell the gate from a real run (it could behave only when watched):
- its limits are a real run's (``ImproverBudget``: CPU and memory rlimits a program can read); only the
  wall-clock limit is shorter, which a program cannot observe without being stopped by it;
- its ``language_model`` is the real service class (the same argument checks, budget and error texts);
  only the completions are scripted;
- each reply is worded like a model's (a sentence, a fenced python block, a closing remark, varied) and
  holds the task's reference solution (the seed solution when the task ships none) re-rendered from its
  AST, at times with a docstring or a header: the same program (a correct model reply may be that too),
  not the reference's text;
- each call takes about as long as the run's own recent completions (their median latency, jittered,
  at most ``PACE_CAP`` seconds; not counted against the program's wall-clock limit, as a real call is not).
"""

from __future__ import annotations

import ast
import random
import statistics
import time
import zlib
from typing import cast

from selftaught.engine.budget import ImproverBudget
from selftaught.engine.context import EngineContext
from selftaught.engine.improver import LOAD_FAILED
from selftaught.engine.language_model import LanguageModelService
from selftaught.engine.repair import Check
from selftaught.engine.utility import UtilityService
from selftaught.models.recorder import Recorder
from selftaught.tasks.base import Task

#: Wall-clock limit of one smoke run (a real run's CPU and memory limits apply as they are).
SMOKE_SECONDS = 30.0
SMOKE_FAILED = "smoke_failed"
#: Longest pause per scripted call, whatever the run's model takes: the gate stays bounded. A program
#: cannot compare runs (each starts with a fresh scratch and no channel out), so it sees one latency only,
#: and half a second is what a fast real endpoint answers in; a longer pause would cost every candidate's
#: smoke test that much wall time (the quick start smoke-tests about ten candidates).
PACE_CAP = 0.5
_OPENINGS = ("Here is an improved version of the algorithm:", "Here's an improved implementation:",
             "Sure! Below is an improved version of the code.", "Improved solution:",
             "Here is a revised version that should perform better:")
_CLOSINGS = ("", "This version keeps the same interface.", "Let me know if you need further changes.",
             "The changes make the algorithm more robust.")


_HEADERS = ("", "", "# Improved version\n", "# Optimized implementation\n", "import math\n\n")
_DOCSTRINGS = ("Improved algorithm.", "Compute the result more efficiently.",
               "An improved implementation of the algorithm.")


def rendered(solution: str, rng: random.Random) -> str:
    """``solution`` as a model might write it: unparsed from its AST (layout and comments its own), at
    times with a docstring or a header; the same program, not the reference's text. As it is if it does
    not parse."""
    try:
        tree = ast.parse(solution)
        doc = rng.choice(_DOCSTRINGS)
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        if doc and functions and not ast.get_docstring(functions[0]):
            functions[0].body.insert(0, ast.Expr(ast.Constant(doc)))
        return rng.choice(_HEADERS) + ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return solution.rstrip()


class SmokeModel(LanguageModelService):
    """The real ``language_model`` service with scripted completions: model-like replies around the
    reference solution, paced by ``pace`` seconds per call (jittered)."""

    def __init__(self, solution: str, budget: ImproverBudget, *, model: str, max_tokens: int, pace: float,
                 seed: int) -> None:
        super().__init__(cast(Recorder, None), model=model, scope="smoke", budget=budget.language_model_calls,
                         max_responses_per_call=budget.max_responses_per_call, max_tokens=max_tokens)
        self.solution = solution
        self.pace = min(max(pace, 0.0), PACE_CAP)
        self.rng = random.Random(seed)

    def reply(self) -> str:
        opening, closing = self.rng.choice(_OPENINGS), self.rng.choice(_CLOSINGS)
        code = rendered(self.solution, self.rng)
        return f"{opening}\n\n```python\n{code}\n```\n" + (f"\n{closing}\n" if closing else "")

    def _complete(self, expertise: str, messages: list[str], temperature: float) -> list[str]:
        if self.pace:
            time.sleep(min(PACE_CAP, self.pace * self.rng.uniform(0.7, 1.3)))
        return [self.reply() for _ in messages]


def model_pace(ctx: EngineContext) -> float:
    """Median seconds of the run's recent improver completions (0 before any, or for a replayed run's
    instant model)."""
    latencies = ctx.store.recent_latencies("improver")
    return min(statistics.median(latencies), PACE_CAP) if latencies else 0.0


def reference_of(task: Task) -> str:
    return task.reference_solution or task.seed_solution


def smoke_test(ctx: EngineContext, improver_source: str) -> tuple[Check, str | None]:
    """("pass", None) when the improver passes on every task, else ("weak" or "broken", why)."""
    cfg = ctx.config
    budget = ImproverBudget.of(cfg)
    model = cfg.model.for_role("improver")
    pace = model_pace(ctx)
    for task in ctx.tasks:
        floor = ctx.scorer.evaluate(task, task.seed_solution, "val").score
        lm = SmokeModel(reference_of(task), budget, model=model.name, max_tokens=model.max_tokens, pace=pace,
                        seed=zlib.crc32(f"{task.name}\0{improver_source}".encode("utf-8", "replace")))
        utility = UtilityService(ctx.scorer, task, budget.utility_calls)
        out = budget.run(ctx.executor, improver_source, task.seed_solution, utility, lm,
                         wall_seconds=min(SMOKE_SECONDS, budget.seconds))
        if out.result is None:
            # Text damage (it does not load) is for repair to fix; a program that loads and then fails
            # is the model's choice, and the gate judges it as it is.
            status: Check = "broken" if (out.error or "").startswith(LOAD_FAILED) else "weak"
            return status, f"{task.name}: {out.verdict}: {(out.error or '').strip()[-160:]}"
        score = ctx.scorer.evaluate(task, out.result, "val").score
        if score < floor:
            return "weak", f"{task.name}: returned a program scoring {score:.3f} < the seed's {floor:.3f}"
    return "pass", None
