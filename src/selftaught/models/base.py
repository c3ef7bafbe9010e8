"""The model provider interface: one abstract method, ``complete``.

Providers are plain synchronous objects: the engine runs a batch by calling ``complete`` from a bounded
thread pool, so a provider only has to be thread-safe (or serialise itself, as the embedded one does).
Budgets, caching and recording live *around* providers (``models/recorder.py``), never inside them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from selftaught.values import ChatRequest, Completion

__all__ = ["ChatRequest", "Completion", "ModelProvider"]  # the value types live in ``selftaught.values``


class ModelProvider(ABC):
    """A chat model. Subclasses are registered under the ``selftaught.models`` entry-point group."""

    #: Maximum concurrent requests this provider should receive.
    concurrency: int = 1
    #: Replies to one prompt the provider samples together (``complete_shared``); 1: it gains nothing
    #: from receiving them together, so the recorder sends them one by one, ``concurrency`` at a time.
    batch_size: int = 1

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identity that goes into the replay key (e.g. ``openai:gpt-4o`` or ``embedded:smollm2-135m``)."""

    @abstractmethod
    def complete(self, request: ChatRequest) -> Completion:
        """Return one completion. Raise ``ModelUnavailable`` (user error) when the endpoint cannot be
        reached or rejects credentials, ``ModelError`` after exhausted retries on transient failures."""

    def complete_shared(self, requests: list[ChatRequest]) -> list[Completion]:
        """Completions of requests that differ only in their seed (n replies to one prompt), in order.
        Providers that decode a shared prompt once override this and set ``batch_size``."""
        return [self.complete(r) for r in requests]

    def check(self) -> None:
        """Fail fast with a ``UserError`` if the provider cannot work (used before a run starts)."""

    def close(self) -> None:
        """Release resources (HTTP pools, model weights)."""
