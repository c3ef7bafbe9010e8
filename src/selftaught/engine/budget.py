"""An improver run's budgets, read from the config in this one place.

Every improver run (the self-improvement step, the meta-utility's runs, the sandbox-flag experiment) gets
the paper's budgets (model calls, responses per call, utility calls) and its sandboxed run's limits
(wall-clock seconds, host seconds, memory). They are ``[budget]`` and ``[sandbox]`` keys, unpacked here
into one typed value, which builds the run's language model and runs the improver with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.config import ModelSettings, RunConfig
from selftaught.engine.improver import ImproverOutcome, ModelService, ScoringService, run_improver
from selftaught.engine.language_model import LanguageModelService
from selftaught.models.recorder import Recorder
from selftaught.sandbox.executor import Executor


def stated_budgets(config: RunConfig) -> dict[str, int]:
    """The budgets a meta-utility's description states to the improver, by its templates' field names."""
    b = config.budget
    return {"n_tests": b.meta_utility_tests, "lm_calls": b.language_model_calls,
            "max_resp": b.max_responses_per_call, "utility_calls": b.utility_calls,
            "budget": b.meta_utility_calls}


@dataclass(frozen=True)
class ImproverBudget:
    #: model calls per improver run, and replies per call
    language_model_calls: int
    max_responses_per_call: int
    #: downstream utility calls per improver run
    utility_calls: int
    #: wall-clock limit of the run (excluding time the host spends serving its calls)
    seconds: float
    #: host seconds the run's calls may take in all
    host_seconds: float
    #: address-space limit of its sandboxed process
    memory_mb: int

    @classmethod
    def of(cls, config: RunConfig) -> ImproverBudget:
        b = config.budget
        return cls(language_model_calls=b.language_model_calls, max_responses_per_call=b.max_responses_per_call,
                   utility_calls=b.utility_calls, seconds=b.improver_seconds, host_seconds=b.improver_host_seconds,
                   memory_mb=config.sandbox.memory_mb)

    def language_model(self, recorder: Recorder, model: ModelSettings, *, scope: str, role: str,
                       draws: str | None = None, calls: int | None = None,
                       service: type[LanguageModelService] = LanguageModelService) -> LanguageModelService:
        """The ``language_model`` the run holds: ``model``'s name and reply length, this budget's calls
        (``calls`` overrides their number) and responses per call."""
        return service(recorder, model=model.name, scope=scope,
                       budget=self.language_model_calls if calls is None else calls,
                       max_responses_per_call=self.max_responses_per_call, max_tokens=model.max_tokens,
                       role=role, draws=draws, stop=tuple(model.stop))

    def run(self, executor: Executor, improver_source: str, initial_solution: str, utility: ScoringService,
            language_model: ModelService, *, cap_host_seconds: bool = True,
            wall_seconds: float | None = None) -> ImproverOutcome:
        """Run the improver within this budget's limits. ``cap_host_seconds=False``: its calls may take
        the host as long as they take (a self-improvement step's calls are whole meta-utility evaluations).
        ``wall_seconds``: a shorter wall-clock limit (the smoke gate's), the rlimits staying this budget's."""
        return run_improver(executor, improver_source, initial_solution, utility, language_model,
                            seconds=self.seconds, memory_mb=self.memory_mb,
                            host_seconds=self.host_seconds if cap_host_seconds else None, wall_seconds=wall_seconds)
