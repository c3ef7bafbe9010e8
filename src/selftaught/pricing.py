"""Model prices and usage: what recorded completions cost, per model name and role.

Pure arithmetic on store records and the config's price table, so the report (which reads the store only
and never imports models) and the cost meter (which enforces caps) count spend the same way. ``Usage``
itself is a plain value type (``selftaught.values``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from selftaught.config import Price
from selftaught.store import CompletionRecord
from selftaught.values import Usage

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


class PriceTable:
    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._prices = {**BUILTIN_PRICES, **(overrides or {})}

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (a dated snapshot falls back to its family's price), None if unknown."""
        return self._prices.get(model) or self._prices.get(_DATED.sub("", model))

    def usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        return 0.0 if p is None else (prompt_tokens * p.input + completion_tokens * p.output) / 1e6


def model_name(record: CompletionRecord) -> str:
    """The model name a recorded completion was asked of (what prices and per-model caps go by)."""
    return str(record.request.get("model") or record.model)


def usage_by_model_and_role(records: Iterable[CompletionRecord], prices: PriceTable) -> dict[tuple[str, str], Usage]:
    """Spend per (model name, role) of recorded completions (each was sent once; replays are free)."""
    out: dict[tuple[str, str], Usage] = {}
    for r in records:
        model = model_name(r)
        out.setdefault((model, r.role), Usage()).add(1, r.prompt_tokens, r.completion_tokens,
                                                     prices.usd(model, r.prompt_tokens, r.completion_tokens))
    return out


def usage_by_role(records: Iterable[CompletionRecord], prices: PriceTable) -> dict[str, Usage]:
    """Spend per role of recorded completions."""
    return grouped(usage_by_model_and_role(records, prices), lambda model, role: role)


def usage_by_model(records: Iterable[CompletionRecord], prices: PriceTable) -> dict[str, Usage]:
    """Spend per model name of recorded completions."""
    return grouped(usage_by_model_and_role(records, prices), lambda model, role: model)


def grouped(usage: dict[tuple[str, str], Usage], key: Callable[[str, str], str]) -> dict[str, Usage]:
    out: dict[str, Usage] = {}
    for (model, role), u in usage.items():
        out.setdefault(key(model, role), Usage()).add(u.calls, u.prompt_tokens, u.completion_tokens, u.usd)
    return out


def total(usages: Mapping[Any, Usage]) -> Usage:
    t = Usage()
    for u in usages.values():
        t.add(u.calls, u.prompt_tokens, u.completion_tokens, u.usd)
    return t
