"""Before a run: how many model calls its budgets allow at most, and which cap binds first.

Why an upper bound and not a guess: the paper's budgets bound every level of the recursion (calls per
improver run x responses per call, runs per meta-utility, meta-utility calls per step), so the worst
case is exact arithmetic, while what an improver really asks for depends on code the model has not
written yet. The seed improver's typical use is shown beside it (stop.md: about 186 completions per
iteration at the paper's budgets), and the cost caps are turned into calls at the worst case per call.
"""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.config import RunConfig
from selftaught.models.cost import PriceTable


@dataclass(frozen=True)
class ModelCallBound:
    """The most model calls a run's budgets and cost caps allow, and which of them binds first."""


    per_improver_run: int
    per_meta_evaluation: int
    per_iteration: int
    total: int  # completions the budgets allow at most over the whole run
    #: the paper's seed improver: one batch, each candidate scored by û (None: the run uses another improver)
    seed_typical_per_iteration: int | None
    #: calls each configured cap allows at the worst case per call (None: that cap is not set)
    caps: dict[str, int | None]
    prompt_tokens: int  # the prompt size the token/USD conversions assume

    @property
    def allowed(self) -> int:
        return min([self.total, *(c for c in self.caps.values() if c is not None)])

    @property
    def binding(self) -> str:
        limits = {"budgets": self.total, **{k: v for k, v in self.caps.items() if v is not None}}
        return min(limits, key=lambda k: limits[k])

    def lines(self) -> list[str]:
        typical = "" if self.seed_typical_per_iteration is None else \
            f" (the seed improver typically uses about {self.seed_typical_per_iteration:,} per iteration)"
        detail = (f"  iteration 0: {self.per_meta_evaluation:,}; each later iteration: {self.per_iteration:,}; "
                  f"one improver run: {self.per_improver_run}{typical}")
        out = [f"model calls the budgets allow at most: {self.total:,}", detail]
        for key, calls in self.caps.items():
            if calls is not None:
                why = "" if key == "max_model_calls" else \
                    f" (every reply at model.max_tokens, prompts of about {self.prompt_tokens:,} tokens)"
                out.append(f"  cost.{key} allows at least {calls:,} calls{why}")
        out.append(f"  => at most {self.allowed:,} model calls; the first limit to bind: {self.binding}")
        return out


def estimate(config: RunConfig, n_tasks: int, prompt_chars: int = 4000) -> ModelCallBound:
    """The worst case of ``config``'s budgets; ``prompt_chars`` sizes a typical prompt (improver source
    or solution plus the utility's description) for converting token and USD caps into calls."""
    b, cost = config.budget, config.cost
    run = b.language_model_calls * b.max_responses_per_call
    meta = n_tasks * b.meta_utility_tests * run
    confirm = meta if config.adoption == "improves" else 0
    step = run + b.meta_utility_calls * meta + confirm
    candidates = min(b.max_responses_per_call, b.meta_utility_calls)
    seed_runs = n_tasks * b.meta_utility_tests * min(b.max_responses_per_call, b.utility_calls)
    typical = min(b.max_responses_per_call, b.meta_utility_calls) + candidates * seed_runs
    prompt = max(1, prompt_chars // 4)
    bulk = config.model.for_role("improver")  # nearly every call is an improver run's (a step asks `run`)
    per_call_tokens = prompt + bulk.max_tokens
    usd_per_call = PriceTable(cost.prices).usd(bulk.name, prompt, bulk.max_tokens)
    caps = {
        "max_model_calls": cost.max_model_calls,
        "max_tokens": cost.max_tokens // per_call_tokens if cost.max_tokens is not None else None,
        "max_usd": (int(cost.max_usd / usd_per_call) if usd_per_call > 0 else None)
        if cost.max_usd is not None else None,
    }
    final = 2 * n_tasks * b.final_tests * run if config.iterations > 0 else 0  # I_0 and I_T, paired
    return ModelCallBound(run, meta, step, meta + config.iterations * step + final,
                    typical if config.improver == "seed" else None, caps, prompt)
