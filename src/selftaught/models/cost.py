"""What a run spends on the model: tokens and USD per role, and hard caps that stop it cleanly.

Why here, around the recorder and not in providers: only completions really *sent* cost money (a
replayed reply is free), and the recorder is the one place that knows which is which. Counters cover the
whole run, every session of it: they start from the completions already in the store, so a resumed run
cannot spend its cap twice.

Caps are hard: a request is sent only if its worst case still fits in what is left, counting requests in
flight. The worst case is ``max_tokens`` of completion plus an upper bound on the prompt (its UTF-8
bytes: a BPE token covers at least one byte), priced at the model's rate. So a cap can stop a run a few
requests early, never late. Once one request is refused every later one is too, so a run stops at one
point instead of trickling on with smaller requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from selftaught.config import Caps, CostConfig
from selftaught.errors import BudgetExhausted, ConfigError
from selftaught.pricing import (
    BUILTIN_PRICES,
    PriceTable,
    grouped,
    model_name,
    total,
    usage_by_model,
    usage_by_model_and_role,
    usage_by_role,
)
from selftaught.store import CompletionRecord
from selftaught.values import ChatRequest, Completion, Usage

#: prices and usage live in ``pricing`` and ``values`` (free of I/O); re-exported for the engine
__all__ = ["BUILTIN_PRICES", "CostMeter", "PriceTable", "Usage", "check_prices", "model_name", "total",
           "usage_by_model", "usage_by_model_and_role", "usage_by_role"]

#: Tokens a chat template adds around the messages (role markers); generous on purpose.
_TEMPLATE_TOKENS = 16


def check_prices(config: CostConfig, models: str | list[str]) -> None:
    """A USD cap on a model without a price would never stop anything: refuse it before the run."""
    table = PriceTable(config.prices)
    for model in [models] if isinstance(models, str) else models:
        capped = config.max_usd is not None or config.models.get(model, Caps()).max_usd is not None
        if capped and table.price(model) is None:
            raise ConfigError(f"cost.max_usd is set but no price is known for model '{model}'; add one, "
                              f"e.g. --set 'cost.prices={{\"{model}\" = {{input = 2.5, output = 10.0}}}}' "
                              "(USD per million tokens)")


def worst_case_tokens(request: ChatRequest) -> tuple[int, int]:
    """Upper bounds on (prompt, completion) tokens of one request."""
    prompt = len(request.system.encode()) + len(request.user.encode()) + _TEMPLATE_TOKENS
    return prompt, request.max_tokens


@dataclass(frozen=True)
class Reservation:
    calls: int
    tokens: int
    usd: float


@dataclass
class CostMeter:
    """Run-wide spend and caps (for all models together and per model name); thread-safe. ``run_dir``
    goes into the message that says how to resume."""

    config: CostConfig
    prices: PriceTable
    run_dir: str
    #: spend per (model name, role), every session of the run
    spent_by: dict[tuple[str, str], Usage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, Reservation] = {}  # per model name
        self._refused: str | None = None

    @classmethod
    def for_run(cls, config: CostConfig, models: str | list[str], run_dir: str,
                recorded: Iterable[CompletionRecord]) -> CostMeter:
        check_prices(config, models)
        prices = PriceTable(config.prices)
        return cls(config, prices, run_dir, usage_by_model_and_role(recorded, prices))

    @property
    def spent(self) -> dict[str, Usage]:
        """Spend per role."""
        with self._lock:
            return grouped(self.spent_by, lambda model, role: role)

    def total(self) -> Usage:
        with self._lock:
            return total(self.spent_by)

    def reserve(self, request: ChatRequest) -> Reservation:
        """Book the worst case of ``request`` or raise ``BudgetExhausted`` if it might break a cap."""
        prompt, completion = worst_case_tokens(request)
        need = Reservation(1, prompt + completion, self.prices.usd(request.model, prompt, completion))
        with self._lock:
            if self._refused is None:
                self._refused = self._breach(request.model, need)
            if self._refused is not None:
                raise BudgetExhausted(self._refused)
            self._in_flight[request.model] = _plus(self._in_flight.get(request.model), need, 1)
        return need

    def settle(self, booked: Reservation, role: str, request: ChatRequest, completion: Completion | None) -> None:
        """Replace a reservation by what the request really cost (nothing, if it failed)."""
        with self._lock:
            self._in_flight[request.model] = _plus(self._in_flight.get(request.model), booked, -1)
            if completion is not None:
                self.spent_by.setdefault((request.model, role), Usage()).add(
                    1, completion.prompt_tokens, completion.completion_tokens,
                    self.prices.usd(request.model, completion.prompt_tokens, completion.completion_tokens))

    def _breach(self, model: str, need: Reservation) -> str | None:
        flight = Reservation(0, 0, 0.0)
        for r in self._in_flight.values():
            flight = _plus(flight, r, 1)
        breach = _breach(self.config, "cost", total(self.spent_by), flight, need, self.run_dir)
        if breach is None and model in self.config.models:
            mine = total({k: u for k, u in self.spent_by.items() if k[0] == model})
            breach = _breach(self.config.models[model], f'cost.models."{model}"', mine,
                             self._in_flight.get(model) or Reservation(0, 0, 0.0), need, self.run_dir)
        return breach


def _plus(a: Reservation | None, b: Reservation, sign: int) -> Reservation:
    a = a or Reservation(0, 0, 0.0)
    return Reservation(a.calls + sign * b.calls, a.tokens + sign * b.tokens, a.usd + sign * b.usd)


def _breach(c: Caps, prefix: str, spent: Usage, f: Reservation, need: Reservation, run_dir: str) -> str | None:
    """The message for the first cap of ``c`` that ``need`` might break, or None."""
    checks = [("max_model_calls", c.max_model_calls, spent.calls + f.calls + need.calls, need.calls,
               f"{spent.calls + f.calls} model calls sent"),  # in flight: sent, not yet answered
              ("max_tokens", c.max_tokens, spent.tokens + f.tokens + need.tokens, need.tokens,
               f"{spent.tokens:,} tokens used"),
              ("max_usd", c.max_usd, spent.usd + f.usd + need.usd, need.usd, f"${spent.usd:.4f} spent")]
    for key, cap, after, step, so_far in checks:
        if cap is not None and after > cap:
            usd = key == "max_usd"
            raised = max(cap * 2, cap + step * 10)
            raised_text, step_text = (f"{raised:.2f}", f"${step:.4f}") if usd else (str(int(raised)), f"{step:,}")
            setting = f"{prefix}.{key}={raised_text}"
            return (f"cost cap {prefix}.{key} = {cap:g} reached ({so_far}; the next request could need "
                    f"{step_text} more); everything so far is saved, resume with a higher cap: selftaught "
                    f"run --resume {run_dir} --set {repr(setting) if chr(34) in setting else setting}")
    return None
