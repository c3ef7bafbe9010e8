"""Bounded concurrency inside one run: CPU slots around sandboxed work, sizes of the pools.

Why slots, not a smaller pool: an improver run spends most of its life waiting (for the model, for the
host to score a solution), so a meta-utility evaluation should keep *all* its improver runs in flight,
while the CPU work they cause (sandboxed programs running) must not oversubscribe the cores, or CPU-time
limits and wall-clock timings get noisy. So every sandboxed ``load``/``call`` (and the process start)
holds one of ``cpus`` slots, and gives it back while the host serves the program's RPCs (which may need
a slot of their own to score a solution: no thread ever holds two slots, so there is no deadlock).
A scoring run holds one slot for its whole evaluation (``cpu_slot``: worker start, load and every
instance; slots are re-entrant per thread). Queueing again for every instance let every waiting run keep
a sandbox open, so a parallel evaluation needed a zygote per run instead of per core and restarted
them all the time; it also made each evaluation, and so each improver run, take longer.
Model requests are bounded separately, per endpoint, by the recorder's pool (``model.concurrency``).

The wrapper is an ``Executor`` like any other, so it works the same in front of the local executor
and the Ray one (whose ``cpus`` is the cluster's).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

from selftaught.sandbox.executor import CallHandler, CallResult, Executor, Worker
from selftaught.sandbox.limits import Limits

Auto = Literal["auto"]


def machine_cpus() -> int:
    """Cores this process may use (the affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def executor_cpus(executor: Executor) -> int:
    """CPUs an executor can keep busy: its own ``cpus`` attribute (a cluster's total) or this machine's."""
    cpus = getattr(executor, "cpus", None)
    return max(1, int(cpus)) if cpus else machine_cpus()


def resolve(value: int | Auto, auto: int) -> int:
    """A config value that may be ``"auto"`` as a positive integer."""
    return max(1, auto if value == "auto" else int(value))


class _Slots:
    """``cpus`` slots; a thread holds at most one, re-entrantly (a thread already holding one uses it)."""

    def __init__(self, cpus: int) -> None:
        self._sem = threading.BoundedSemaphore(cpus)
        self._local = threading.local()

    @property
    def held(self) -> bool:
        return getattr(self._local, "held", False)

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.held:
            yield
            return
        with self._sem:
            self._local.held = True
            try:
                yield
            finally:
                self._local.held = False

    @contextmanager
    def lend(self) -> Iterator[None]:
        """Give this thread's slot back for the block (the host serving a program's RPC)."""
        if not self.held:
            yield
            return
        self._local.held = False
        self._sem.release()
        try:
            yield
        finally:
            self._sem.acquire()
            self._local.held = True

    # semaphore-like, for warm-up starts on other threads (see ``ZygotePool.reserve``)
    def acquire(self, blocking: bool = True) -> bool:
        return self._sem.acquire(blocking)

    def release(self) -> None:
        self._sem.release()


class _Slotted(Worker):
    def __init__(self, inner: Worker, slots: _Slots) -> None:
        self.inner = inner
        self.slots = slots

    def _released(self, handler: CallHandler | None) -> CallHandler | None:
        if handler is None:
            return None

        def serve(target: str, method: str, args: list) -> Any:
            with self.slots.lend():  # the program waits for the host: its core is free meanwhile
                return handler(target, method, args)

        return serve

    def load(self, source: str) -> CallResult:
        with self.slots.hold():
            return self.inner.load(source)

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        with self.slots.hold():
            return self.inner.call(fn, args, seed=seed, handler=self._released(handler),
                                   wall_seconds=wall_seconds)

    @property
    def alive(self) -> bool:
        return self.inner.alive

    def close(self) -> None:
        self.inner.close()


class SlottedExecutor(Executor):
    """``inner`` with at most ``cpus`` sandboxed programs running (or starting) at any moment."""

    def __init__(self, inner: Executor, cpus: int) -> None:
        self.inner = inner
        self.cpus = max(1, cpus)
        self._slots = _Slots(self.cpus)

    @property
    def tier(self) -> str:  # type: ignore[override]
        return self.inner.tier

    @property
    def isolated(self) -> bool:  # type: ignore[override]
        return self.inner.isolated

    @property
    def allow_unsandboxed(self) -> bool:  # type: ignore[override]
        return self.inner.allow_unsandboxed

    def cpu_slot(self) -> AbstractContextManager[None]:
        """Hold one slot for a whole batch of sandboxed work on this thread (a scoring run: spawn, load
        and every instance), instead of queueing again for each call; nested spawns and calls use it."""
        return self._slots.hold()

    def reserve(self, workers: int, cpu_slot: Any = None) -> None:
        """Warm-up starts hold one of these slots each, like any other sandbox start."""
        self.inner.reserve(workers, cpu_slot if cpu_slot is not None else self._slots)

    def spawn(self, limits: Limits) -> Worker:
        with self._slots.hold():  # starting an interpreter is CPU work too
            worker = self.inner.spawn(limits)
        return _Slotted(worker, self._slots)

    def close(self) -> None:
        self.inner.close()
