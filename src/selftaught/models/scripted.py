"""A scripted model: fixed replies or a Python function instead of a language model.

It exists so that control flow (the loop, improvers, budgets, replay) can be tested fast and exactly. It
is a registered provider like any other (``scripted``), so tests exercise the real plug-in path instead
of patching internals.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence

from selftaught.errors import ConfigError
from selftaught.models.base import ChatRequest, Completion, ModelProvider
from selftaught.values import cut_at_stop


class ScriptedModel(ModelProvider):
    """Replies from a list (cycled) or from ``responder(request)``; remembers every request it got."""

    def __init__(
        self,
        replies: Sequence[str] | None = None,
        responder: Callable[[ChatRequest], str] | None = None,
        *,
        concurrency: int = 6,
        model_id: str = "scripted",
        batch_size: int = 1,
    ) -> None:
        if (replies is None) == (responder is None):
            raise ConfigError("the scripted model needs exactly one of 'replies' (a list of strings) or "
                              "'responder' (a function of the request)")
        if replies is not None and (
                isinstance(replies, str) or not replies or not all(isinstance(r, str) for r in replies)):
            raise ConfigError("the scripted model's 'replies' must be a non-empty list of strings")
        self._replies = itertools.cycle(list(replies)) if replies is not None else None
        self._responder = responder
        self.concurrency = max(1, int(concurrency))
        self._model_id = model_id  # two scripted models in one run (a model per role) key apart
        #: As a batching provider (the embedded model) does, take n replies to one prompt together.
        self.batch_size = max(1, int(batch_size))
        #: Sizes of the groups received by ``complete_shared``, in arrival order.
        self.shared_groups: list[int] = []
        self._lock = threading.Lock()
        #: Every request received, in arrival order (which is not request order under concurrency).
        self.requests: list[ChatRequest] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    def complete_shared(self, requests: list[ChatRequest]) -> list[Completion]:
        with self._lock:
            self.shared_groups.append(len(requests))
        return super().complete_shared(requests)

    def complete(self, request: ChatRequest) -> Completion:
        """Next reply; token counts are whitespace-separated words, enough to exercise budgets."""
        started = time.perf_counter()
        with self._lock:
            self.requests.append(request)
            text = next(self._replies) if self._replies is not None else None
        if text is None:
            assert self._responder is not None
            text = self._responder(request)  # outside the lock: a slow responder must not serialise calls
        text, _ = cut_at_stop(text, request.stop)  # as a server honouring ``stop`` would
        return Completion(
            text=text,
            prompt_tokens=len(request.system.split()) + len(request.user.split()),
            completion_tokens=len(text.split()),
            latency=time.perf_counter() - started,
            finish_reason="stop",
        )
