"""How work on a run store stopped, recorded in it: every entry point that marks a store ``running``
(a run, a resume, an experiment) wraps its work in ``recorded_stop`` so the status never stays
``running`` after a clean stop. Bugs are not recorded: they keep their traceback, and resume accepts a
store left ``running``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from selftaught.errors import BudgetExhausted, ModelError, ModelUnavailable, StoreFault
from selftaught.store import RunStore


def record_stop(store: RunStore, status: str, reason: str) -> None:
    """Record why the work stopped, if the store still takes writes (a full disk may refuse even this;
    the status then stays 'running', which resume accepts just the same)."""
    try:
        store.set_meta("stop_reason", reason)
        store.set_meta("status", status)
    except StoreFault:
        pass


@contextmanager
def recorded_stop(store: RunStore) -> Iterator[None]:
    """Record a cap (``budget_exhausted``), a model or store fault (``stopped``) or a signal
    (``interrupted``) in ``store`` with its reason, then let it go on up to the CLI's one handler."""
    try:
        yield
    except BudgetExhausted as exc:  # everything before it is committed; resumable
        record_stop(store, "budget_exhausted", str(exc))
        raise
    except (ModelError, ModelUnavailable, StoreFault) as exc:
        record_stop(store, "stopped", str(exc))
        raise
    except KeyboardInterrupt:
        record_stop(store, "interrupted", "interrupted by a signal")
        raise
