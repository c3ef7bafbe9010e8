"""Start, resume and evaluate a self-improvement run: its directory and store, the loop driven inside a
``RunSession`` (``session.py`` opens and closes what the run needs), and how a run that stops is recorded.

The public API (``selftaught.run`` / ``resume`` / ``evaluate``) and the CLI both come through here.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from selftaught import signals
from selftaught.config import RunConfig
from selftaught.engine.concurrency import open_workers
from selftaught.engine.context import Reporter, SilentReporter
from selftaught.engine.estimate import ModelCallBound, estimate
from selftaught.engine.fit import role_fit_warnings
from selftaught.engine.held_out import key_warning, new_secret
from selftaught.engine.loop import self_improve
from selftaught.engine.meta_utility import screening_scope
from selftaught.engine.session import RunModels, RunSession, check_executor, locked, stored_config
from selftaught.engine.stops import recorded_stop
from selftaught.errors import (
    ConfigError,
    ModelError,
    ModelUnavailable,
    RunStoreError,
    StoreFault,
)
from selftaught.improvers import improver_source
from selftaught.models.base import ModelProvider
from selftaught.models.cost import CostMeter, Usage, check_prices
from selftaught.sandbox import Executor
from selftaught.store import IterationRecord, MetaEvaluationRecord, RunStore
from selftaught.store.sqlite import stamp_stop
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
    #: what the run spent on the model so far (all sessions), per role: improver, meta, judge
    usage: dict[str, Usage] = field(default_factory=dict)
    #: the same per (model name, role): a run with a model per role (``[model.meta]``) spends on two
    usage_by_model: dict[tuple[str, str], Usage] = field(default_factory=dict)


def load_tasks(spec: str) -> list[Task]:
    """One task, or a comma-separated mixture (the meta-utility averages over all of them)."""
    return [load_task(part.strip()) for part in spec.split(",") if part.strip()]


def estimate_run(config: RunConfig, improver: str | None = None) -> ModelCallBound:
    """The most model calls ``config`` allows (prompts sized from the improver and task descriptions)."""
    tasks = load_tasks(config.task)
    check_prices(config.cost, config.model.names())
    source = improver if improver is not None else improver_source(config.improver)[0]
    return estimate(config, len(tasks), len(source) + max(len(t.description) for t in tasks))


def new_run_dir(config: RunConfig) -> Path:
    """``runs_dir/STAMP-TASKS``; a task file is named by its stem, not its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = [Path(t.strip()).stem if t.strip().endswith(".py") else t.strip() for t in config.task.split(",")]
    base = Path(config.runs_dir) / f"{stamp}-{'+'.join(names)[:40]}"
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


def check_runs_dir(runs_dir: str) -> None:
    """``runs_dir`` must be (or be creatable as) a writable directory: checked before anything exists."""
    path = Path(runs_dir).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"runs_dir: {existing} is a file, not a directory; set runs_dir to a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"runs_dir: {existing} is not writable; set runs_dir to a writable directory")


def _drive(store: RunStore, config: RunConfig, reporter: Reporter, models: RunModels, offline: bool,
           executor: Executor | None = None) -> RunResult:
    """Run to the end, or record how the run stopped (status and reason) and re-raise."""
    resume = f"selftaught run --resume {store.run_dir}"
    forced = partial(stamp_stop, store.run_dir, "interrupted", "interrupted by a second signal (left at once)")
    try:
        with signals.last_words(forced), recorded_stop(store):  # a stop while the session opens or closes
            # the stop is recorded (inner) before the session closes: closing waits for work in flight,
            # and a second signal that ends the process then must not leave the status 'running'
            with RunSession(store, config, models, offline=offline, executor=executor) as session, \
                    recorded_stop(store):
                result = _execute(session, reporter)
            store.set_meta("status", "finished")
            return result
    except (ModelError, ModelUnavailable) as exc:
        if offline and isinstance(exc, ModelUnavailable):
            raise  # replay-only and a reply was never recorded: the user's to fix (run without --offline)
        raise ModelError(f"{exc}. The run stopped; everything finished is saved (resume with: {resume})") \
            from exc


def _execute(session: RunSession, reporter: Reporter) -> RunResult:
    """Score the seed solutions, then self-improve to the end."""
    config, store, meter = session.config, session.store, session.meter
    assert meter is not None, "a run's session counts its spend"
    tasks = load_tasks(config.task)
    start = store.get_meta("start_improver")
    reporter.event("estimate", lines=estimate_run(config, start["source"]).lines(), spent=meter.total())
    for warning in role_fit_warnings(config.model, start["source"], tasks):
        reporter.event("warning", message=warning)
    executor = session.executor
    executor.reserve(open_workers(config, len(tasks), executor))
    ctx = session.context(tasks, reporter)
    seed_scores, seed_hashes = {}, {}
    for task in tasks:
        val = ctx.scorer.evaluate(task, task.seed_solution, "val")
        test = ctx.scorer.evaluate(task, task.seed_solution, "test")
        seed_scores[task.name] = (val.score, test.score)
        seed_hashes[task.name] = val.program_hash
    store.set_meta("seed_solution", seed_scores)
    store.set_meta("seed_solution_hash", seed_hashes)  # which solutions are people's (analysis/inventory)
    reporter.event("run_start", run_dir=str(store.run_dir), tasks=[t.name for t in tasks],
                   seed_solution=seed_scores, tier=executor.tier)
    iterations = self_improve(ctx, start["source"], start["origin"])
    recorder = session.recorder
    return RunResult(store.run_dir, iterations, seed_scores, recorder.calls_sent, recorder.cache_hits,
                     dict(meter.spent), dict(meter.spent_by))


def start_run(config: RunConfig, *, reporter: Reporter | None = None, provider: ModelProvider | None = None,
              run_dir: Path | None = None, providers: Mapping[str, ModelProvider] | None = None,
              executor: Executor | None = None) -> RunResult:
    """Start a new self-improvement run (checks the task and improver before creating anything).
    ``provider`` answers for ``[model]``, ``providers`` for roles with their own model (``meta``,
    ``improver``); either is built from the config when not given, as is ``executor`` (which the run
    closes when it ends; pass one built by ``session.make_executor`` around your own, e.g. to watch
    placement)."""
    for task in load_tasks(config.task):
        ensure_valid(task)  # every static problem of a task file, in one message, before any spending
    check_prices(config.cost, config.model.names())
    check_executor(config)  # a misspelt executor, or an option it does not take
    source, origin = improver_source(config.improver)
    if run_dir is None:
        check_runs_dir(config.runs_dir)
    models = RunModels.build(config, provider, providers)  # an unreachable server: before anything exists
    reporter = reporter or SilentReporter()
    no_key = key_warning(config.held_out)  # makes this user's held-out key, or says what the run falls back to
    if no_key:
        reporter.event("warning", message=no_key)
    run_dir = Path(run_dir) if run_dir else new_run_dir(config)
    try:
        store = _create_store(run_dir, {"config": config.model_dump(mode="json"),  # held-out secret: before scoring
                                        "held_out_secret": new_secret(config.seed, config.held_out).hex(),
                                        "start_improver": {"source": source, "origin": origin},
                                        "status": "running"})
    except BaseException:
        models.close()
        raise
    with locked(store):
        return _drive(store, config, reporter, models, False, executor)


def _create_store(run_dir: Path, meta: dict) -> RunStore:
    """A new run's store holding its defining records, committed before anything else can fail; if even
    that fails (disk full, read-only), nothing is left behind: no unresumable half-made run."""
    existed = run_dir.exists()
    store = None
    try:
        store = RunStore(run_dir, create=True)
        store.begin_run(meta)
        return store
    except BaseException as exc:
        if store is not None:
            store.close()
        if existed:
            raise
        shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(exc, StoreFault):
            raise RunStoreError(f"cannot create the run {run_dir} ({exc.cause}); nothing was left behind: free "
                                "some space or set runs_dir elsewhere, and start again") from None
        raise


def resume_run(run_dir: Path, *, reporter: Reporter | None = None, provider: ModelProvider | None = None,
               iterations: int | None = None, offline: bool = False, sets: list[str] | None = None,
               providers: Mapping[str, ModelProvider] | None = None, upgrade: bool = False) -> RunResult:
    """Continue a run where it stopped (optionally to more iterations, or with raised cost caps / another
    executor via ``sets``, e.g. ``["cost.max_usd=5"]``); replays recorded model replies. A run an older
    version made is refused unless ``upgrade``: this version would go on under its own rules (results
    differ from the old version's resume) and migrate the store, which the old version then cannot open."""
    with locked(RunStore(Path(run_dir), upgrade=upgrade)) as store:
        if store.made_by is not None and not upgrade:
            raise RunStoreError(
                f"{run_dir} was made by selftaught {store.made_by}; resuming it here would continue it under "
                "this version's rules (candidate repair, common draws, held-out secrets: its results would "
                f"differ from {store.made_by}'s own resume) and migrate its store, which {store.made_by} then "
                f"cannot open; resume it with selftaught {store.made_by}, or add --upgrade to continue it here "
                "(on a copy, to keep the original)")
        reporter = reporter or SilentReporter()
        if store.made_by is not None:
            reporter.event("warning", message=f"continuing a run made by selftaught {store.made_by} under this "
                           f"version's rules; its store was migrated, and {store.made_by} can no longer open it")
        sets = [*(sets or []), *([f"iterations={iterations}"] if iterations is not None else [])]
        if store.get_meta("start_improver") is None:
            raise RunStoreError(f"{run_dir} holds no run configuration; it was not made by `selftaught run`")
        config = stored_config(store, sets)
        if sets:
            store.set_meta("config", config.model_dump(mode="json"))
        models = RunModels.build(config, provider, providers, check=not offline)
        store.mark_running()
        return _drive(store, config, reporter, models, offline)


def resume_estimate(run_dir: Path, *, iterations: int | None = None, sets: list[str] | None = None) -> list[str]:
    """What ``resume_run`` with these arguments may call (the estimate's lines, then what the run spent
    so far), without calling a model or running anything: ``run --resume DIR --dry-run``."""
    store = RunStore(Path(run_dir))
    try:
        start = store.get_meta("start_improver")
        if start is None:
            raise RunStoreError(f"{run_dir} holds no run configuration; it was not made by `selftaught run`")
        config = stored_config(store, [*(sets or []), *([f"iterations={iterations}"] if iterations is not None
                                                          else [])])
        spent = CostMeter.for_run(config.cost, config.model.names(), str(store.run_dir), store.completions()).total()
    finally:
        store.close()
    return [*estimate_run(config, start["source"]).lines(),
            (f"already spent by this run: {spent.calls:,} model calls, {spent.tokens:,} tokens, "
             f"${spent.usd:.4f} (nothing was run: --dry-run)")]


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
