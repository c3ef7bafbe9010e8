"""The executor interface: "run this program with these limits, serve these calls".

A ``Worker`` is one fresh sandboxed process holding one program. Implementations: ``local`` (warm
zygotes at the best isolation tier, ``local.py``), ``process`` (a cold interpreter per worker, tier C,
``cold.py``); others (Ray) implement the same two classes, so the engine never changes. A run puts
its executor behind CPU slots (``slots.py``), itself an ``Executor``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Self

from selftaught.errors import SelftaughtError
from selftaught.sandbox.limits import Limits, Verdict

#: Serves a program's call to ``utility`` / ``language_model``: (target, method, args) -> value.
#: Raise ``RefusedCall`` to answer with an error the program sees as an exception.
CallHandler = Callable[[str, str, list], Any]
#: Guest CPU figures below the host's by more than both of these are a disagreement (see CallResult).
CPU_TOLERANCE_SECONDS = 0.02
CPU_TOLERANCE_SHARE = 0.25


class RefusedCall(Exception):
    """The host refuses a program's call (budget exhausted, bad arguments); the program gets an error."""


class HostileCall(Exception):
    """A program's call whose arguments made the host's handler fail: the program is stopped with the
    verdict ``protocol`` (recorded with the handler's error), and the host goes on."""


def serve_rpc(handler: CallHandler, target: str, method: str, args: list) -> dict[str, Any]:
    """Serve one call of a program: the reply frame, or ``HostileCall``. The host's own faults (the
    model server down, a run-wide cost cap: ``SelftaughtError``) propagate and end the run as they
    should; a handler choking on a hostile value must not."""
    try:
        return {"ok": True, "value": handler(target, method, args)}
    except RefusedCall as exc:
        return {"ok": False, "error": str(exc)}
    except SelftaughtError:
        raise
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, UnicodeError) as exc:
        raise HostileCall(f"the host could not serve the program's call {target}.{method}: "
                          f"{type(exc).__name__}: {exc}"[:500]) from None


@dataclass(frozen=True)
class CallResult:
    verdict: Verdict
    value: Any = None
    error: str | None = None
    #: CPU time of the call, measured by the host from the guest process's kernel accounting
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    output: str = ""
    #: host seconds spent serving the program's ``utility``/``language_model`` calls during this call
    served_seconds: float = 0.0
    #: the CPU time the program's own interpreter reported (a cross-check only; None if unreported)
    guest_cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK

    @property
    def clock_disagrees(self) -> bool:
        """The program's own CPU figure is well below the host's: it changed the clock it reads."""
        if self.guest_cpu_seconds is None:
            return False
        gap = self.cpu_seconds - self.guest_cpu_seconds
        return gap > CPU_TOLERANCE_SECONDS and gap > CPU_TOLERANCE_SHARE * self.cpu_seconds


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


def machine_cpus() -> int:
    """Cores this process may use (the affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Executor(ABC):
    """Creates workers. What an executor says about itself is declared here, with defaults, so the
    engine reads it directly (nothing is probed): a third-party executor overrides what differs.

    ``isolated`` is the executor's claim that every program it runs is confined (namespaces or seccomp
    + Landlock: tiers A and B). It is False unless an executor says otherwise, so a third-party executor
    that does not declare it is treated as unsandboxed: improvers (self-modifying code) then run only if
    the user opted in (``sandbox.allow_unsandboxed``, which the run's ``SlottedExecutor`` carries)."""

    @property
    def tier(self) -> str:
        """The isolation in force; it is recorded with every result."""
        return "unknown"

    @property
    def isolated(self) -> bool:
        return False

    @property
    def allow_unsandboxed(self) -> bool:
        """The user opted into running improvers here although it is not ``isolated``."""
        return False

    @property
    def cpus(self) -> int:
        """Sandboxed programs it can keep busy at once: this machine's cores (a cluster: all of its)."""
        return machine_cpus()

    def describe(self) -> str:
        """One line for ``selftaught doctor``: the tier, and whatever else explains it."""
        return f"tier '{self.tier}'"

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
