"""Sizes of a run's pools: improver runs in flight at once, sandboxed workers kept open.

The CPU slots that bound the sandboxed work itself are the executor's business (``sandbox/slots.py``);
model requests are bounded per endpoint by the recorder's pool (``model.concurrency``).
"""

from __future__ import annotations

from typing import Literal

from selftaught.config import RunConfig
from selftaught.sandbox.executor import Executor

Auto = Literal["auto"]


def resolve(value: int | Auto, auto: int) -> int:
    """A config value that may be ``"auto"`` as a positive integer."""
    return max(1, auto if value == "auto" else int(value))


def open_workers(config: RunConfig, n_tasks: int, executor: Executor) -> int:
    """Sandboxed workers a meta-utility evaluation keeps open at once: one per improver run in flight
    (it waits in its sandbox while the host scores its solutions) plus one per CPU slot (a scoring run
    holds a slot from its worker's start to its last instance)."""
    runs = resolve(config.sandbox.parallel, n_tasks * config.budget.meta_utility_tests)
    return runs + executor.cpus
