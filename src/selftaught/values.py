"""Plain value types of model use: a chat request, its completion, and what completions cost.

No I/O and no imports from the rest of selftaught, so every layer may use them: providers and the
recorder (``models/``) build and send them, while the analyses and the report, which never import
``models``, read the same types (the strategy judge sends a ``ChatRequest``, the report sums ``Usage``).
Prices live beside these in ``selftaught.pricing`` (also free of I/O).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ChatRequest", "Completion", "Usage"]


@dataclass(frozen=True)
class ChatRequest:
    """Exactly what changes a model's output; hashed to form the replay key."""

    model: str
    system: str
    user: str
    temperature: float
    max_tokens: int
    #: Deterministic sampling seed derived from the replay key (providers that support it use it).
    seed: int | None = None
    #: Stop sequences: the reply ends before the first of them (``model.stop``)
    stop: tuple[str, ...] = ()

    def messages(self) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.user}]

    def canonical(self) -> str:
        d = asdict(self)
        d.pop("seed")
        if not d["stop"]:  # requests without stop sequences key as they did before they existed
            d.pop("stop")
        else:
            d["stop"] = list(d["stop"])
        return json.dumps(d, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()


@dataclass(frozen=True)
class Completion:
    """One reply, with what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    finish_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


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


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (excluded), and whether one was found: what a provider
    that honours stop sequences returns."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)
