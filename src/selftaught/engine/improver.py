"""One improver run: ``improve_algorithm(initial_solution, utility, language_model)`` in a sandboxed
child, with both arguments served by the host under their budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from selftaught.engine.programs import MAX_PROGRAM_CHARS
from selftaught.errors import SandboxUnavailable
from selftaught.sandbox import Executor, Limits, Verdict
from selftaught.sandbox.executor import RefusedCall

#: Longest program (characters) an improver may return: a longer one is an ``invalid`` outcome.
MAX_PROGRAM = MAX_PROGRAM_CHARS


class ScoringService(Protocol):
    budget: int
    uses: int

    @property
    def description(self) -> str: ...

    def __call__(self, solution: Any, /) -> float: ...

    def feedback(self, solution: Any, /) -> str: ...


#: How an outcome's error starts when the improver did not even load (syntax, imports, no function).
LOAD_FAILED = "loading the improver"


class ModelService(Protocol):
    """What an improver's ``language_model`` is served by: the budgeted real model
    (``LanguageModelService``) or the smoke gate's scripted one."""

    calls: int
    #: replies served so far (a call may ask for several)
    responses: int

    def proxy_spec(self) -> dict[str, Any]: ...

    def handle(self, method: str, args: list) -> Any: ...


@dataclass(frozen=True)
class ImproverOutcome:
    result: str | None
    verdict: str
    error: str | None
    lm_calls: int
    utility_calls: int
    output: str = ""
    #: host seconds spent serving the run's calls (model replies, scoring its solutions)
    host_seconds: float = 0.0
    #: model replies the run received
    lm_responses: int = 0

    @property
    def ok(self) -> bool:
        return self.result is not None


def run_improver(executor: Executor, improver_source: str, initial_solution: str, utility: ScoringService,
                 language_model: ModelService, *, seconds: float, memory_mb: int = 4096,
                 host_seconds: float | None = None, wall_seconds: float | None = None) -> ImproverOutcome:
    """Run the improver; a failure of any kind is an outcome with ``result=None``, never an exception
    (except running self-modifying code without isolation, which the user must have opted into).
    ``host_seconds`` caps the host time its calls may take in all (None: only its budgets bound it).
    ``wall_seconds`` (default ``seconds``) is the wall-clock limit alone: the CPU rlimit, which a program
    can read, always derives from ``seconds``."""
    if not executor.isolated and not executor.allow_unsandboxed:
        raise SandboxUnavailable(f"refusing to run an improver at tier '{executor.tier}' (no isolation): "
                                 "install bubblewrap or set sandbox.allow_unsandboxed = true")

    def handler(target: str, method: str, args: list) -> Any:
        if target == "utility" and method == "__call__":
            return utility(args[0] if args else None)
        if target == "utility" and method == "feedback":
            return utility.feedback(args[0] if args else None)
        if target == "language_model":
            return language_model.handle(method, args)
        raise RefusedCall(f"unknown call {target}.{method}")

    served = 0.0

    def outcome(result: str | None, verdict: str, error: str | None, output: str = "") -> ImproverOutcome:
        return ImproverOutcome(result, verdict, error, language_model.calls, utility.uses, output[-4000:],
                               host_seconds=round(served, 3), lm_responses=language_model.responses)

    wall = seconds if wall_seconds is None else min(seconds, wall_seconds)
    limits = Limits(wall_seconds=wall, memory_mb=memory_mb, cpu_seconds=int(seconds) + 60,
                    serve_seconds=host_seconds)
    with executor.spawn(limits) as worker:
        loaded = worker.load(improver_source)
        if not loaded.ok:
            return outcome(None, str(loaded.verdict), f"{LOAD_FAILED}: {loaded.error}", loaded.output)
        spec = {"__proxy__": "utility", "str": utility.description, "budget": utility.budget}
        res = worker.call("improve_algorithm", [initial_solution, spec, language_model.proxy_spec()],
                          handler=handler, wall_seconds=wall)
        served = res.served_seconds
    if res.verdict is not Verdict.OK:
        return outcome(None, str(res.verdict), res.error, res.output)
    if not isinstance(res.value, str) or not res.value.strip():
        kind = type(res.value).__name__ if not isinstance(res.value, str) else "an empty string"
        return outcome(None, "invalid", f"improve_algorithm returned {kind}, not a program", res.output)
    if len(res.value) > MAX_PROGRAM:
        return outcome(None, "invalid", f"improve_algorithm returned {len(res.value):,} characters, more than "
                       f"the {MAX_PROGRAM:,} a program may have", res.output)
    return outcome(res.value, "ok", None, res.output)
