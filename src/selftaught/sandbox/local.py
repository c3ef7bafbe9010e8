"""The local executor: warm sandboxed workers at the best isolation tier this machine offers.

The tier is chosen once per process by a probe that runs a tiny program through it (see ``tiers``); it
is this executor's ``tier`` and so is recorded with every evaluation. Workers come from a pool of warm
zygotes (see ``warm``): a fresh forked, confined child per worker, in milliseconds.
"""

from __future__ import annotations

# Re-exported for callers that used the old module layout.
from selftaught.sandbox.cold import ProcessWorker, guest_environment, kill_tree  # noqa: F401
from selftaught.sandbox.executor import Executor, Worker
from selftaught.sandbox.limits import Limits
from selftaught.sandbox.tiers import TierChoice, select_tier
from selftaught.sandbox.warm import WarmWorker, ZygoteError, ZygotePool


class LocalExecutor(Executor):
    """Warm sandboxed workers on this machine. ``tier``: "auto" (best available) or "A", "B", "C"."""

    def __init__(self, tier: str = "auto", pool_size: int = 4) -> None:
        self.choice: TierChoice = select_tier(tier)
        self.pool = ZygotePool(self.choice.spec, size=pool_size)
        if self.choice.zygote is not None:
            self.pool.adopt(self.choice.zygote)
            self.choice.zygote = None

    @property
    def tier(self) -> str:
        return self.choice.label

    @property
    def isolated(self) -> bool:
        return self.choice.isolated

    def spawn(self, limits: Limits) -> Worker:
        """A worker in a child of an idle zygote; if that zygote fails to fork it (not the program's
        doing: nothing has run yet), once more on a freshly started one. The worker's ``load`` likewise
        retries once on a fresh zygote if the sandbox itself is lost meanwhile (see ``WarmWorker``)."""
        for attempt in range(2):
            zygote = self.pool.take() if attempt == 0 else self.pool.fresh()
            try:
                return WarmWorker(zygote, limits, self.pool.give_back, fresh=self.pool.fresh)
            except ZygoteError:
                self.pool.discard(zygote)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def reserve(self, workers: int, cpu_slot: object = None) -> None:
        """Keep ``workers`` warm zygotes, the missing ones started now in the background."""
        self.pool.reserve(workers, cpu_slot)

    def describe(self) -> str:
        """One line for ``selftaught doctor``: tier, what it applies, why better tiers were not used."""
        parts = [f"tier {self.choice.letter} '{self.tier}'"]
        parts.append(f"cgroup {','.join(self.choice.cgroup)}" if self.choice.cgroup else "no writable cgroup")
        parts += [f"tier {k} unavailable: {v}" for k, v in self.choice.rejected.items()]
        return "; ".join(parts)

    def close(self) -> None:
        self.pool.close()
