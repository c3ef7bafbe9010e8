"""SIGINT and SIGTERM: stop a run cleanly, with everything finished so far committed.

The first signal raises ``Interrupted`` in the main thread (Python delivers signals there) and marks the
process as stopping, so threads serving parallel improver runs refuse their next model request instead
of finishing minutes of work nobody will use (``check`` raises there too). A second signal while the
run unwinds exits at once. The store writes through, so nothing committed is lost either way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from selftaught.errors import Interrupted

_stopping = threading.Event()
_signum = 0


def _handler(signum: int, frame: FrameType | None) -> None:
    global _signum
    if _stopping.is_set():  # a second signal: the user does not want to wait for the clean stop
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


def received() -> int:
    """The signal that asked this process to stop (0: none)."""
    return _signum if _stopping.is_set() else 0


def check() -> None:
    """Raise ``Interrupted`` in any thread once a stop was requested (before starting new work)."""
    if _stopping.is_set():
        raise Interrupted(_signum)
