"""What every part of a running experiment shares, bundled once (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from selftaught.config import RunConfig
from selftaught.engine.utility import SolutionScorer
from selftaught.models.recorder import Recorder
from selftaught.sandbox import Executor
from selftaught.store import RunStore
from selftaught.tasks.base import Task


class Reporter(Protocol):
    """Receives progress events (the CLI renders them; the library default ignores them)."""

    def event(self, name: str, **fields: Any) -> None: ...


class SilentReporter:
    def event(self, name: str, **fields: Any) -> None:
        pass


@dataclass
class EngineContext:
    config: RunConfig
    store: RunStore
    recorder: Recorder
    executor: Executor
    scorer: SolutionScorer
    tasks: list[Task]
    reporter: Reporter = field(default_factory=SilentReporter)

    def model_calls(self) -> int:
        """Completions requested so far in this process (sent + replayed)."""
        return self.recorder.calls_sent + self.recorder.cache_hits
