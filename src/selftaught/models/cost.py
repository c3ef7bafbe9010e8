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

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from selftaught.config import CostConfig, Price
from selftaught.errors import BudgetExhausted, ConfigError
from selftaught.models.base import ChatRequest, Completion
from selftaught.store import CompletionRecord

#: List prices in USD per million tokens (OpenAI, 2024-2025). Override or extend with ``[cost] prices``;
#: models not listed (local servers, the embedded model) cost 0.
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input=2.5, output=10.0),
    "gpt-4o-mini": Price(input=0.15, output=0.6),
    "gpt-4.1": Price(input=2.0, output=8.0),
    "gpt-4.1-mini": Price(input=0.4, output=1.6),
    "gpt-4.1-nano": Price(input=0.1, output=0.4),
    "gpt-4-turbo": Price(input=10.0, output=30.0),
    "gpt-4": Price(input=30.0, output=60.0),
    "gpt-3.5-turbo": Price(input=0.5, output=1.5),
}
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")  # gpt-4o-2024-08-06 is priced as gpt-4o
#: Tokens a chat template adds around the messages (role markers); generous on purpose.
_TEMPLATE_TOKENS = 16


class PriceTable:
    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._prices = {**BUILTIN_PRICES, **(overrides or {})}

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (a dated snapshot falls back to its family's price), None if unknown."""
        return self._prices.get(model) or self._prices.get(_DATED.sub("", model))

    def usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        return 0.0 if p is None else (prompt_tokens * p.input + completion_tokens * p.output) / 1e6


def check_prices(config: CostConfig, model: str) -> None:
    """A USD cap on a model without a price would never stop anything: refuse it before the run."""
    if config.max_usd is not None and PriceTable(config.prices).price(model) is None:
        raise ConfigError(f"cost.max_usd is set but no price is known for model '{model}'; add one, "
                          f"e.g. --set 'cost.prices={{\"{model}\" = {{input = 2.5, output = 10.0}}}}' "
                          "(USD per million tokens)")


@dataclass
class Usage:
    """Model use of one role (improver, meta, judge, ...) or of the whole run."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, calls: int, prompt_tokens: int, completion_tokens: int, usd: float) -> None:
        self.calls += calls
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.usd += usd


def usage_by_role(records: Iterable[CompletionRecord], prices: PriceTable) -> dict[str, Usage]:
    """Spend per role of recorded completions (each was sent once; replays are free)."""
    out: dict[str, Usage] = {}
    for r in records:
        model = str(r.request.get("model") or r.model)
        out.setdefault(r.role, Usage()).add(1, r.prompt_tokens, r.completion_tokens,
                                            prices.usd(model, r.prompt_tokens, r.completion_tokens))
    return out


def total(usages: dict[str, Usage]) -> Usage:
    t = Usage()
    for u in usages.values():
        t.add(u.calls, u.prompt_tokens, u.completion_tokens, u.usd)
    return t


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
    """Run-wide spend and caps; thread-safe. ``run_dir`` goes into the message that says how to resume."""

    config: CostConfig
    prices: PriceTable
    run_dir: str
    spent: dict[str, Usage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = Reservation(0, 0, 0.0)
        self._refused: str | None = None

    @classmethod
    def for_run(cls, config: CostConfig, model: str, run_dir: str,
                recorded: Iterable[CompletionRecord]) -> CostMeter:
        check_prices(config, model)
        prices = PriceTable(config.prices)
        return cls(config, prices, run_dir, usage_by_role(recorded, prices))

    def total(self) -> Usage:
        with self._lock:
            return total(self.spent)

    def reserve(self, request: ChatRequest) -> Reservation:
        """Book the worst case of ``request`` or raise ``BudgetExhausted`` if it might break a cap."""
        prompt, completion = worst_case_tokens(request)
        need = Reservation(1, prompt + completion, self.prices.usd(request.model, prompt, completion))
        with self._lock:
            if self._refused is None:
                self._refused = self._breach(total(self.spent), need)
            if self._refused is not None:
                raise BudgetExhausted(self._refused)
            f = self._in_flight
            self._in_flight = Reservation(f.calls + 1, f.tokens + need.tokens, f.usd + need.usd)
        return need

    def settle(self, booked: Reservation, role: str, request: ChatRequest, completion: Completion | None) -> None:
        """Replace a reservation by what the request really cost (nothing, if it failed)."""
        with self._lock:
            f = self._in_flight
            self._in_flight = Reservation(f.calls - booked.calls, f.tokens - booked.tokens, f.usd - booked.usd)
            if completion is not None:
                self.spent.setdefault(role, Usage()).add(
                    1, completion.prompt_tokens, completion.completion_tokens,
                    self.prices.usd(request.model, completion.prompt_tokens, completion.completion_tokens))

    def _breach(self, spent: Usage, need: Reservation) -> str | None:
        c, f = self.config, self._in_flight
        checks = [("max_model_calls", c.max_model_calls, spent.calls + f.calls + need.calls, need.calls,
                   f"{spent.calls} model calls sent"),
                  ("max_tokens", c.max_tokens, spent.tokens + f.tokens + need.tokens, need.tokens,
                   f"{spent.tokens:,} tokens used"),
                  ("max_usd", c.max_usd, spent.usd + f.usd + need.usd, need.usd, f"${spent.usd:.4f} spent")]
        for key, cap, after, step, so_far in checks:
            if cap is not None and after > cap:
                usd = key == "max_usd"
                raised = max(cap * 2, cap + step * 10)
                raised_text, step_text = (f"{raised:.2f}", f"${step:.4f}") if usd else (str(int(raised)), f"{step:,}")
                return (f"cost cap cost.{key} = {cap:g} reached ({so_far}; the next request could need "
                        f"{step_text} more); everything so far is saved, resume with a higher cap: selftaught "
                        f"run --resume {self.run_dir} --set cost.{key}={raised_text}")
        return None
