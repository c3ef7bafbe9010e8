"""Set up and drive a run: the run directory, store, model, sandbox and tasks, wired together once.

The public API (``selftaught.run`` / ``resume`` / ``evaluate``) and the CLI both come through here.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from selftaught import plugins
from selftaught.config import RunConfig
from selftaught.engine.context import EngineContext, Reporter, SilentReporter
from selftaught.engine.loop import self_improve
from selftaught.engine.meta_utility import screening_scope
from selftaught.engine.utility import SolutionScorer
from selftaught.errors import RunStoreError
from selftaught.improvers import improver_source
from selftaught.models.base import ModelProvider
from selftaught.models.recorder import Recorder
from selftaught.store import IterationRecord, MetaEvaluationRecord, RunStore
from selftaught.tasks.base import Task
from selftaught.tasks.registry import ensure_valid, load_task


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    iterations: list[IterationRecord]
    #: u(s) of each task's seed solution: {task: (val, test)}
    seed_solution: dict[str, tuple[float, float]]
    model_calls_sent: int
    model_calls_replayed: int


def load_tasks(spec: str) -> list[Task]:
    """One task, or a comma-separated mixture (the meta-utility averages over all of them)."""
    return [load_task(part.strip()) for part in spec.split(",") if part.strip()]


def make_model(config: RunConfig) -> ModelProvider:
    cls = plugins.load("model", config.model.provider)
    offered = {"model": config.model.name, **config.model.model_dump(exclude={"provider", "name", "max_tokens"})}
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**offered)
    return cls(**{k: v for k, v in offered.items() if k in params})


def make_executor(config: RunConfig):  # noqa: ANN201 - an Executor plug-in
    return plugins.load("executor", config.sandbox.executor)()


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunStoreError(f"{run_dir} is in use by another selftaught process; wait for it or stop it") \
                from None
        yield
    finally:
        os.close(fd)


def new_run_dir(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(config.runs_dir) / f"{stamp}-{config.task.replace('/', '_').replace(',', '+')[:40]}"
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


def _drive(store: RunStore, config: RunConfig, reporter: Reporter, provider: ModelProvider,
           offline: bool) -> RunResult:
    tasks = load_tasks(config.task)
    executor = make_executor(config)
    recorder = Recorder(provider, store, offline=offline)
    scorer = SolutionScorer(executor, store, config.seed, config.sandbox.memory_mb)
    ctx = EngineContext(config, store, recorder, executor, scorer, tasks, reporter)
    start = store.get_meta("start_improver")
    seed_scores = {}
    for task in tasks:
        val = scorer.evaluate(task, task.seed_solution, "val")
        test = scorer.evaluate(task, task.seed_solution, "test")
        seed_scores[task.name] = (val.score, test.score)
    store.set_meta("seed_solution", seed_scores)
    reporter.event("run_start", run_dir=str(store.run_dir), tasks=[t.name for t in tasks],
                   seed_solution=seed_scores, tier=executor.tier)
    try:
        iterations = self_improve(ctx, start["source"], start["origin"])
    finally:
        recorder.close()
        executor.close()
        provider.close()
    store.set_meta("status", "finished")
    return RunResult(store.run_dir, iterations, seed_scores, recorder.calls_sent, recorder.cache_hits)


def start_run(config: RunConfig, *, reporter: Reporter | None = None, provider: ModelProvider | None = None,
              run_dir: Path | None = None) -> RunResult:
    """Start a new self-improvement run (checks the task and improver before creating anything)."""
    for task in load_tasks(config.task):
        ensure_valid(task)  # every static problem of a task file, in one message, before any spending
    source, origin = improver_source(config.improver)
    provider = provider or make_model(config)
    provider.check()  # an unreachable server is a one-line error before anything is created
    run_dir = Path(run_dir) if run_dir else new_run_dir(config)
    store = RunStore(run_dir, create=True)
    with _locked(run_dir):
        store.set_meta("config", config.model_dump(mode="json"))
        store.set_meta("start_improver", {"source": source, "origin": origin})
        store.set_meta("status", "running")
        return _drive(store, config, reporter or SilentReporter(), provider, offline=False)


def resume_run(run_dir: Path, *, reporter: Reporter | None = None, provider: ModelProvider | None = None,
               iterations: int | None = None, offline: bool = False) -> RunResult:
    """Continue a run where it stopped (optionally to more iterations); replays recorded model replies."""
    store = RunStore(Path(run_dir))
    with _locked(Path(run_dir)):
        raw = store.get_meta("config")
        if raw is None or store.get_meta("start_improver") is None:
            raise RunStoreError(f"{run_dir} holds no run configuration; it was not made by `selftaught run`")
        if iterations is not None:
            raw["iterations"] = iterations
            store.set_meta("config", raw)
        config = RunConfig.model_validate(raw)
        provider = provider or make_model(config)
        if not offline:
            provider.check()
        store.set_meta("status", "running")
        return _drive(store, config, reporter or SilentReporter(), provider, offline)


def evaluate_improver(config: RunConfig, *, reporter: Reporter | None = None,
                      provider: ModelProvider | None = None, run_dir: Path | None = None
                      ) -> tuple[RunResult, MetaEvaluationRecord]:
    """Score one improver's meta-utility (val and test) without self-improving it (a 0-iteration run)."""
    result = start_run(config.model_copy(update={"iterations": 0}), reporter=reporter, provider=provider,
                       run_dir=run_dir)
    h = result.iterations[0].improver_hash
    rec = RunStore(result.run_dir).get_meta_evaluation(h, screening_scope(h))
    assert rec is not None, "iteration 0 always records its meta-evaluation"
    return result, rec
