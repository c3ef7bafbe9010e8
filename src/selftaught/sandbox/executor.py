"""The executor interface: "run this program with these limits, serve these calls".

A ``Worker`` is one fresh sandboxed process holding one program. Implementations: ``local`` (warm
zygotes at the best isolation tier, ``local.py``), ``process`` (a cold interpreter per worker, tier C,
``cold.py``); others (Ray) implement the same two classes, so the engine never changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Self

from selftaught.sandbox.limits import Limits, Verdict

#: Serves a program's call to ``utility`` / ``language_model``: (target, method, args) -> value.
#: Raise ``RefusedCall`` to answer with an error the program sees as an exception.
CallHandler = Callable[[str, str, list], Any]


class RefusedCall(Exception):
    """The host refuses a program's call (budget exhausted, bad arguments); the program gets an error."""


@dataclass(frozen=True)
class CallResult:
    verdict: Verdict
    value: Any = None
    error: str | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


class Worker(ABC):
    """One sandboxed process. After a verdict other than OK/ERROR the process is gone: open a new one."""

    @abstractmethod
    def load(self, source: str) -> CallResult:
        """Execute the program's top level."""

    @abstractmethod
    def call(self, fn: str, args: list, *, seed: int | None = None,
             handler: CallHandler | None = None, wall_seconds: float | None = None) -> CallResult:
        """Call ``fn(*args)`` in the program; ``handler`` serves its RPCs while it runs."""

    @property
    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Executor(ABC):
    """Creates workers. ``tier`` names the isolation in force; it is recorded with every result."""

    tier: str = "unknown"
    #: False at tier C: improvers then run only if the user opted in (``sandbox.allow_unsandboxed``).
    isolated: bool = True
    allow_unsandboxed: bool = False

    @abstractmethod
    def spawn(self, limits: Limits) -> Worker: ...

    def cpu_slot(self) -> AbstractContextManager[None]:
        """Held around a batch of sandboxed work by one thread (see ``SlottedExecutor``); here nothing."""
        return nullcontext()

    def reserve(self, workers: int, cpu_slot: Any = None) -> None:
        """A hint: up to ``workers`` workers will be open at once. An executor may get ready for that
        in the background (the local one starts warm sandboxes, each inside ``cpu_slot`` if given).
        Changes nothing a worker computes; the default does nothing."""

    def close(self) -> None:
        """Release pools (warm workers, clusters)."""
