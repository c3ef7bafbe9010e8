"""Record/replay around any provider: every completion is stored, keyed so that a resumed or repeated
run gets the same replies without calling the model again.

Replay key = sha256 of (model id, canonical request, scope, occurrence). The *scope* names the place in
the run that asked (e.g. ``t1/mu/ab12cd/run3``) and the *occurrence* counts identical requests within
that scope. Keying on scope makes replay exact even when meta-utility runs go in parallel: no matter
which thread asks first, run 3's second identical prompt always maps to the same stored reply. The
sampling seed is derived from the key, so even a cache miss is reproducible where the provider honours
seeds (the embedded model does).

Common random numbers: a caller may key replies on a shared *draws* scope while still counting
occurrences in its own scope. Two meta-utility runs with the same draws scope (run j of two different
improvers) then get the same reply, and the same sampling seed, for the same request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from selftaught.models.base import ChatRequest, Completion, ModelProvider
from selftaught.models.cost import CostMeter
from selftaught.store import CompletionRecord, RunStore


class Recorder:
    """Cache + recording in front of one provider. Thread-safe."""

    def __init__(self, provider: ModelProvider, store: RunStore, *, offline: bool = False,
                 meter: CostMeter | None = None) -> None:
        self.provider = provider
        self.store = store
        self.offline = offline
        #: Spend and hard caps; only requests really sent go through it (replays are free).
        self.meter = meter
        self._occurrences: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, provider.concurrency),
                                        thread_name_prefix="model")
        self.calls_sent = 0
        self.cache_hits = 0

    def _key(self, scope: str, request: ChatRequest, draws: str | None = None) -> tuple[str, int]:
        digest = request.digest()
        with self._lock:
            occurrence = self._occurrences[(scope, digest)]
            self._occurrences[(scope, digest)] += 1
        raw = f"{self.provider.model_id}\n{digest}\n{draws or scope}\n{occurrence}"
        return hashlib.sha256(raw.encode()).hexdigest(), occurrence

    def complete_batch(self, scope: str, requests: list[ChatRequest], role: str = "improver",
                       draws: str | None = None) -> list[Completion]:
        """Completions for ``requests`` in request order; cached ones replayed, the rest sent at once.
        ``draws`` (default: ``scope``) is the scope the replay key and sampling seed derive from."""
        keyed = [(req, *self._key(scope, req, draws)) for req in requests]
        results: list[Completion | None] = [None] * len(requests)
        misses = []
        for i, (req, key, occurrence) in enumerate(keyed):
            rec = self.store.get_completion(key)
            if rec is not None:
                results[i] = Completion(rec.text, rec.prompt_tokens, rec.completion_tokens, 0.0, "cache")
                self.store.log_model_event(key, cache_hit=True)
                with self._lock:
                    self.cache_hits += 1
            else:
                misses.append((i, req, key, occurrence))
        if misses and self.offline:
            from selftaught.errors import ModelUnavailable

            raise ModelUnavailable("replay-only mode has no recorded reply for this request; run without --offline")

        def send(item: tuple[int, ChatRequest, str, int]) -> tuple[int, Completion]:
            i, req, key, occurrence = item
            seeded = replace(req, seed=int(key[:8], 16))
            booked = self.meter.reserve(req) if self.meter else None  # raises BudgetExhausted at a cap
            comp = None
            try:
                comp = self.provider.complete(seeded)
            finally:
                if self.meter and booked:
                    self.meter.settle(booked, role, req, comp)
            self.store.put_completion(CompletionRecord(
                key=key, scope=scope, occurrence=occurrence, model=self.provider.model_id,
                request={"system": req.system, "user": req.user, "temperature": req.temperature,
                         "max_tokens": req.max_tokens, "seed": seeded.seed, "model": req.model},
                text=comp.text, prompt_tokens=comp.prompt_tokens, completion_tokens=comp.completion_tokens,
                latency=comp.latency, role=role))
            self.store.log_model_event(key, cache_hit=False)
            with self._lock:
                self.calls_sent += 1
            return i, comp

        for i, comp in self._pool.map(send, misses):
            results[i] = comp
        return [r for r in results if r is not None]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
