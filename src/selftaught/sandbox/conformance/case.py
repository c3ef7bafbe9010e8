"""The typed record of one conformance case, and what a case may use to drive an executor.

A case is one hostile program (or a short scenario of several) of one attack class. Most cases are a
single call: ``source`` defines ``attack(ctx)``, the runner loads it in a fresh worker, calls it once
with the host context, and checks the verdict. A case that needs more (two programs in a row, several
calls, RPCs served by a strict handler) gives a ``drive`` function that uses the ``Session`` it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from selftaught.sandbox.executor import CallResult
from selftaught.sandbox.limits import Limits

if TYPE_CHECKING:
    from selftaught.sandbox.conformance.runner import Session

#: Planted in every host-side secret; it must never appear in anything a program sends back.
MARKER = "ADVERSARIAL-SECRET-7f3c9e"
ALL_TIERS = "ABC"


class CaseFailed(AssertionError):
    """The executor did not contain the program as the case requires; the message says how."""


def default_limits() -> Limits:
    return Limits(wall_seconds=10, memory_mb=1024)


@dataclass(frozen=True)
class Case:
    """One hostile program and what containing it means.

    ``verdicts``: the verdicts that count as correctly classified. ``tiers``: the isolation tiers whose
    promises the case checks (e.g. network refusals need seccomp: "AB"). ``contained``: a check on the
    returned value when the verdict is ``ok`` (False: something escaped). ``expect``: a further check on
    the result, returning why it failed or None. ``phase``: "call" checks the call's verdict, "load" the
    verdict of loading the program (for programs that must not even load). ``drive``: a scenario that
    replaces the single call (e.g. two programs in a row, or a call served by a strict RPC handler).
    ``host_memory_mb``: how much the host process may grow while the case runs.
    """

    name: str
    attack: str
    why: str
    source: str = ""
    verdicts: tuple[str, ...] = ("ok",)
    tiers: str = ALL_TIERS
    contained: Callable[[Any], bool] | None = None
    expect: Callable[[CallResult], str | None] | None = None
    limits: Limits = field(default_factory=default_limits)
    phase: Literal["call", "load"] = "call"
    drive: Callable[[Session], None] | None = None
    host_memory_mb: int = 200

    def applies_to(self, tier: str) -> bool:
        return tier in self.tiers


def no_marker(value: Any) -> bool:
    return MARKER not in repr(value)


def require(condition: bool, message: str) -> None:
    """Fail the case with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CaseFailed(message)
