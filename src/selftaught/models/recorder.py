"""Record/replay around any provider: every completion is stored, keyed so that a resumed or repeated
run gets the same replies without calling the model again.

Replay key = sha256 of (model id, canonical request, scope, occurrence, the run's draws salt). The salt
(``engine/held_out.model_draws_salt``: a keyed hash of the run seed and secret) makes two run seeds
independent replicates: same request, different seed. One run seed replays exactly. A role may have its own model
(``[model.meta]``): its requests go to that provider and carry its id and name, so they key apart. The
*scope* names the place in the run that asked (e.g. ``t1/mu/ab12cd/run3``) and the *occurrence* counts
identical requests within that scope. Keying on scope makes replay exact even when meta-utility runs go
in parallel: no matter which thread asks first, run 3's second identical prompt always maps to the same
stored reply. The sampling seed is derived from the key, so even a cache miss is reproducible where the
provider honours seeds (the embedded model does). Identical requests missing from the store (n replies
to one prompt) go to a provider with ``batch_size`` > 1 as one group, which it samples together; each
keeps its own key and seed, so grouping changes how replies are computed, never which reply a key maps to.

Common random numbers: a caller may key replies on a shared *draws* scope while still counting
occurrences in its own scope. Two meta-utility runs with the same draws scope (run j of two different
improvers) then get the same reply, and the same sampling seed, for the same request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from selftaught import signals
from selftaught.errors import ModelError, ModelUnavailable
from selftaught.models.base import ChatRequest, Completion, ModelProvider
from selftaught.models.cost import CostMeter, Reservation
from selftaught.store import CompletionRecord, RunStore

#: A request not in the store: (its index in the batch, the request, its replay key, its occurrence).
_Miss = tuple[int, ChatRequest, str, int]


class Recorder:
    """Cache + recording in front of one provider (and optionally one per role). Thread-safe."""

    def __init__(self, provider: ModelProvider, store: RunStore, *, offline: bool = False,
                 meter: CostMeter | None = None, by_role: Mapping[str, ModelProvider] | None = None,
                 salt: str = "") -> None:
        self.provider = provider
        #: the run's own draws: part of every replay key and so of every sampling seed
        self.salt = salt
        #: providers of roles with their own model; other roles use ``provider``
        self.by_role = dict(by_role or {})
        self.store = store
        self.offline = offline
        #: Spend and hard caps; only requests really sent go through it (replays are free).
        self.meter = meter
        self._occurrences: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._pools = {id(p): ThreadPoolExecutor(max_workers=max(1, p.concurrency), thread_name_prefix="model")
                       for p in (provider, *self.by_role.values())}
        self.calls_sent = 0
        self.cache_hits = 0
        #: The first model fault: once the server has failed past its retries, every later request
        #: fails at once with the same message (parallel improver runs must not each wait out retries).
        self.fault: ModelError | ModelUnavailable | None = None

    def provider_for(self, role: str) -> ModelProvider:
        return self.by_role.get(role, self.provider)

    def _key(self, scope: str, request: ChatRequest, provider: ModelProvider,
             draws: str | None = None) -> tuple[str, int]:
        digest = request.digest()
        with self._lock:
            occurrence = self._occurrences[(scope, digest)]
            self._occurrences[(scope, digest)] += 1
        raw = f"{provider.model_id}\n{digest}\n{draws or scope}\n{occurrence}"
        if self.salt:  # unsalted: a run recorded before salts (its keys stay as they were)
            raw += f"\n{self.salt}"
        return hashlib.sha256(raw.encode()).hexdigest(), occurrence

    def complete_batch(self, scope: str, requests: list[ChatRequest], role: str = "improver",
                       draws: str | None = None) -> list[Completion]:
        """Completions for ``requests`` in request order; cached ones replayed, the rest sent at once.
        ``draws`` (default: ``scope``) is the scope the replay key and sampling seed derive from."""
        provider = self.provider_for(role)
        keyed = [(req, *self._key(scope, req, provider, draws)) for req in requests]
        results: list[Completion | None] = [None] * len(requests)
        misses = []
        for i, (req, key, occurrence) in enumerate(keyed):
            rec = self.store.get_completion(key)
            if rec is not None:
                results[i] = Completion(rec.text, rec.prompt_tokens, rec.completion_tokens, 0.0,
                                        rec.finish_reason, {"cached": True})
                self.store.log_model_event(key, cache_hit=True)
                with self._lock:
                    self.cache_hits += 1
            else:
                misses.append((i, req, key, occurrence))
        if misses and self.offline:
            raise ModelUnavailable("replay-only mode has no recorded reply for this request; run without --offline")

        pool = self._pools[id(provider)]
        for done in pool.map(lambda g: self._send(provider, scope, role, g), self._groups(provider, misses)):
            for i, comp in done:
                results[i] = comp
        return [r for r in results if r is not None]

    @staticmethod
    def _groups(provider: ModelProvider, misses: list[_Miss]) -> list[list[_Miss]]:
        """Misses to send together: identical requests (n replies to one prompt) in groups the provider
        samples as one batch, in request order; one request per group where it gains nothing."""
        if provider.batch_size <= 1:
            return [[m] for m in misses]
        by_request: dict[str, list[_Miss]] = {}
        for m in misses:
            by_request.setdefault(m[1].digest(), []).append(m)
        return list(by_request.values())

    def _send(self, provider: ModelProvider, scope: str, role: str, group: list[_Miss]
              ) -> list[tuple[int, Completion]]:
        seeded = [replace(req, seed=int(key[:8], 16)) for _, req, key, _ in group]
        booked: list[Reservation] = []
        comps: list[Completion] = []
        signals.check()  # a stopping run sends nothing new
        meter = self.meter
        try:
            if meter is not None:
                for _, req, _, _ in group:
                    booked.append(meter.reserve(req))  # raises BudgetExhausted at a cap: none is sent
            if self.fault is not None:  # the server already failed this run: fail at once, not after retries
                raise type(self.fault)(str(self.fault))
            comps = (provider.complete_shared(seeded) if len(group) > 1 else [provider.complete(seeded[0])])
        except (ModelError, ModelUnavailable) as exc:
            with self._lock:
                self.fault = self.fault or exc
            raise  # nothing is stored: a failed request is never cached
        finally:
            if meter is not None:
                answered: list[Completion | None] = [*comps] if comps else [None] * len(booked)
                for (_, req, _, _), book, comp in zip(group, booked, answered):
                    meter.settle(book, role, req, comp)
        for (_, req, key, occurrence), sent, comp in zip(group, seeded, comps):
            self.store.put_completion(CompletionRecord(
                key=key, scope=scope, occurrence=occurrence, model=provider.model_id,
                request={"system": req.system, "user": req.user, "temperature": req.temperature,
                         "max_tokens": req.max_tokens, "seed": sent.seed, "model": req.model},
                text=comp.text, prompt_tokens=comp.prompt_tokens, completion_tokens=comp.completion_tokens,
                latency=comp.latency, role=role, finish_reason=comp.finish_reason))
            self.store.log_model_event(key, cache_hit=False)
        with self._lock:
            self.calls_sent += len(group)
        return [(i, comp) for (i, _, _, _), comp in zip(group, comps)]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
