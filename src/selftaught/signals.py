"""SIGINT and SIGTERM: stop a run cleanly, with everything finished so far committed.

The first signal raises ``Interrupted`` in the main thread (Python delivers signals there) and marks the
process as stopping, so threads serving parallel improver runs refuse their next model request instead
of finishing minutes of work nobody will use (``check`` raises there too). A second signal while the
run unwinds exits at once. The store writes through, so nothing committed is lost either way, and what
was registered with ``last_words`` (a run: its status 'interrupted') is done before that exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from selftaught.errors import Interrupted

_stopping = threading.Event()
_signum = 0
_last_words: list[Callable[[], None]] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    global _signum
    if _stopping.is_set():  # a second signal: the user does not want to wait for the clean stop
        for words in list(_last_words):
            try:
                words()
            except BaseException:  # noqa: BLE001 - leaving at once was asked for: nothing may stop it
                pass
        os._exit(128 + signum)
    _signum = signum
    _stopping.set()
    print(f"\n{signal.Signals(signum).name}: stopping; everything finished so far is saved "
          "(signal again to leave at once)", file=sys.stderr)
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to a clean stop (call from the main thread, e.g. the CLI's entry)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


@contextmanager
def last_words(action: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a second signal does ``action`` (quick, self-contained: it runs in a signal
    handler while the main thread is anywhere) before it ends the process."""
    _last_words.append(action)
    try:
        yield
    finally:
        _last_words.remove(action)


def received() -> int:
    """The signal that asked this process to stop (0: none)."""
    return _signum if _stopping.is_set() else 0


def check() -> None:
    """Raise ``Interrupted`` in any thread once a stop was requested (before starting new work)."""
    if _stopping.is_set():
        raise Interrupted(_signum)
