"""A run in progress for the live-report tests: a real (SCRIPTED-model) run in a thread that stops
inside iteration 1's self-improvement step until the test lets it go on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import FIXED_MAX, scripted_config

from selftaught.engine.runner import start_run
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel


@contextmanager
def paused_run(run_dir: Path, reporter: Any = None) -> Iterator[threading.Event]:
    """Yields once iteration 0 is recorded and the run waits in iteration 1; set the event to finish it.
    On leaving, the run is let go and joined (it finishes with t = 0..1)."""
    gate, reached = threading.Event(), threading.Event()

    def respond(request: ChatRequest) -> str:
        if "improve_algorithm" in request.user:  # the meta step: hold the run here
            reached.set()
            gate.wait(300)
            return "no code this time"
        return FIXED_MAX

    failed: list[BaseException] = []

    def go() -> None:
        try:
            start_run(scripted_config(improver="seed", iterations=1), provider=ScriptedModel(responder=respond),
                      run_dir=run_dir, reporter=reporter)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failed.append(exc)
            reached.set()

    thread = threading.Thread(target=go, name="paused-run")
    thread.start()
    try:
        assert reached.wait(300), "the run never reached iteration 1"
        if failed:
            raise failed[0]
        yield gate
    finally:
        gate.set()
        thread.join(300)
    if failed:
        raise failed[0]


def wait_for(predicate: Any, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
