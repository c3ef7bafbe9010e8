"""Bounded concurrency inside one run: CPU slots around sandboxed work, sizes of the pools.

Why slots, not a smaller pool: an improver run spends most of its life waiting (for the model, for the
host to score a solution), so a meta-utility evaluation should keep *all* its improver runs in flight,
while the CPU work they cause (sandboxed programs running) must not oversubscribe the cores, or CPU-time
limits and wall-clock timings get noisy. So every sandboxed ``load``/``call`` (and the process start)
holds one of ``cpus`` slots, and gives it back while the host serves the program's RPCs (which may need
a slot of their own to score a solution: no thread ever holds two slots, so there is no deadlock).
Model requests are bounded separately, per endpoint, by the recorder's pool (``model.concurrency``).

The wrapper is an ``Executor`` like any other, so it works the same in front of the local executor
and the Ray one (whose ``cpus`` is the cluster's).
"""

from __future__ import annotations

import os
import threading
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


class _Slotted(Worker):
    def __init__(self, inner: Worker, slots: threading.BoundedSemaphore) -> None:
        self.inner = inner
        self.slots = slots

    def _released(self, handler: CallHandler | None) -> CallHandler | None:
        if handler is None:
            return None

        def serve(target: str, method: str, args: list) -> Any:
            self.slots.release()  # the program waits for the host: its core is free meanwhile
            try:
                return handler(target, method, args)
            finally:
                self.slots.acquire()

        return serve

    def load(self, source: str) -> CallResult:
        with self.slots:
            return self.inner.load(source)

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        with self.slots:
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
        self._slots = threading.BoundedSemaphore(self.cpus)

    @property  # type: ignore[override]
    def tier(self) -> str:
        return self.inner.tier

    @property  # type: ignore[override]
    def isolated(self) -> bool:
        return self.inner.isolated

    @property  # type: ignore[override]
    def allow_unsandboxed(self) -> bool:
        return self.inner.allow_unsandboxed

    def spawn(self, limits: Limits) -> Worker:
        with self._slots:  # starting an interpreter is CPU work too
            worker = self.inner.spawn(limits)
        return _Slotted(worker, self._slots)

    def close(self) -> None:
        self.inner.close()
