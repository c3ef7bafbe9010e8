"""Set up and drive a run: the run directory, store, model, sandbox and tasks, wired together once.

The public API (``selftaught.run`` / ``resume`` / ``evaluate``) and the CLI both come through here.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from selftaught import plugins
from selftaught.config import MODEL_ROLES, RunConfig, resume_config
from selftaught.engine.concurrency import SlottedExecutor, executor_cpus, resolve
from selftaught.engine.context import EngineContext, Reporter, SilentReporter
from selftaught.engine.estimate import Estimate, estimate
from selftaught.engine.fit import fit_warnings
from selftaught.engine.held_out import held_out_secret, new_secret
from selftaught.engine.loop import self_improve
from selftaught.engine.meta_utility import screening_scope
from selftaught.engine.stops import recorded_stop
from selftaught.engine.utility import SolutionScorer
from selftaught.errors import (
    ConfigError,
    ModelError,
    ModelUnavailable,
    RunStoreError,
    SandboxUnavailable,
    StoreFault,
)
from selftaught.improvers import improver_source
from selftaught.models.base import ModelProvider
from selftaught.models.cost import CostMeter, Usage, check_prices
from selftaught.models.recorder import Recorder
from selftaught.sandbox import Executor
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
    #: what the run spent on the model so far (all sessions), per role: improver, meta, judge
    usage: dict[str, Usage] = field(default_factory=dict)
    #: the same per (model name, role): a run with a model per role (``[model.meta]``) spends on two
    usage_by_model: dict[tuple[str, str], Usage] = field(default_factory=dict)


def load_tasks(spec: str) -> list[Task]:
    """One task, or a comma-separated mixture (the meta-utility averages over all of them)."""
    return [load_task(part.strip()) for part in spec.split(",") if part.strip()]


def estimate_run(config: RunConfig, improver: str | None = None) -> Estimate:
    """The most model calls ``config`` allows (prompts sized from the improver and task descriptions)."""
    tasks = load_tasks(config.task)
    check_prices(config.cost, config.model.names())
    source = improver if improver is not None else improver_source(config.improver)[0]
    return estimate(config, len(tasks), len(source) + max(len(t.description) for t in tasks))


def make_model(config: RunConfig, role: str = "default") -> ModelProvider:
    """The provider of ``role``'s model (``[model]`` unless ``[model.<role>]`` overrides it)."""
    settings = config.model.for_role(role)
    cls = plugins.load("model", settings.provider)
    offered = {"model": settings.name, **settings.model_dump(exclude={"provider", "name", "max_tokens"})}
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**offered)
    return cls(**{k: v for k, v in offered.items() if k in params})


def role_models(config: RunConfig, given: Mapping[str, ModelProvider] | None = None) -> dict[str, ModelProvider]:
    """Providers of the roles whose model is not ``[model]``'s (``given`` ones first). A role section that
    changes only ``max_tokens`` shares ``[model]``'s provider: one set of weights, one connection pool."""
    def built(role: str) -> dict:
        return config.model.for_role(role).model_dump(exclude={"max_tokens"})

    out = dict(given or {})
    for role in MODEL_ROLES:
        if role not in out and built(role) != built("default"):
            out[role] = make_model(config, role)
    return out


def make_executor(config: RunConfig, inner: Executor | None = None) -> Executor:
    """The configured executor plug-in (given the ``[sandbox]`` options its constructor names, e.g. the
    Ray address), or ``inner`` when given, behind CPU slots so parallel improver runs never oversubscribe
    its cores. Improvers rewrite code, so an unsandboxed tier is refused unless the user opted in."""
    if inner is None:
        cls = plugins.load("executor", config.sandbox.executor)
        params = inspect.signature(cls).parameters
        offered = config.sandbox.model_dump(exclude={"executor", "parallel", "cpus", "allow_unsandboxed"})
        inner = cls(**{k: v for k, v in offered.items() if k in params})
    if not inner.isolated and not config.sandbox.allow_unsandboxed:
        inner.close()
        raise SandboxUnavailable(
            f"only an unsandboxed tier ('{inner.tier}') works here, and improvers rewrite code: "
            "install bubblewrap (scripts/install_system.sh) or set sandbox.allow_unsandboxed = true")
    inner.allow_unsandboxed = config.sandbox.allow_unsandboxed
    return SlottedExecutor(inner, resolve(config.sandbox.cpus, executor_cpus(inner)))


def open_workers(config: RunConfig, n_tasks: int, executor: Executor) -> int:
    """Sandboxed workers a meta-utility evaluation keeps open at once: one per improver run in flight
    (it waits in its sandbox while the host scores its solutions) plus one per CPU slot (a scoring run
    holds a slot from its worker's start to its last instance)."""
    runs = resolve(config.sandbox.parallel, n_tasks * config.budget.meta_utility_tests)
    return runs + executor_cpus(executor)


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


def _drive(store: RunStore, config: RunConfig, reporter: Reporter, provider: ModelProvider,
           offline: bool, by_role: dict[str, ModelProvider], executor: Executor | None = None) -> RunResult:
    """Run to the end, or record how the run stopped (status and reason) and re-raise."""
    resume = f"selftaught run --resume {store.run_dir}"
    try:
        with recorded_stop(store):
            return _execute(store, config, reporter, provider, offline, by_role, executor)
    except (ModelError, ModelUnavailable) as exc:
        if offline and isinstance(exc, ModelUnavailable):
            raise  # replay-only and a reply was never recorded: the user's to fix (run without --offline)
        raise ModelError(f"{exc}. The run stopped; everything finished is saved (resume with: {resume})") \
            from exc


def _execute(store: RunStore, config: RunConfig, reporter: Reporter, provider: ModelProvider,
             offline: bool, by_role: dict[str, ModelProvider], executor: Executor | None) -> RunResult:
    tasks = load_tasks(config.task)
    meter = CostMeter.for_run(config.cost, config.model.names(), str(store.run_dir), store.completions())
    start = store.get_meta("start_improver")
    reporter.event("estimate", lines=estimate_run(config, start["source"]).lines(), spent=meter.total())
    for warning in fit_warnings(config.model.max_tokens, start["source"], tasks):
        reporter.event("warning", message=warning)
    executor = executor or make_executor(config)
    executor.reserve(open_workers(config, len(tasks), executor))
    recorder = Recorder(provider, store, offline=offline, meter=meter, by_role=by_role)
    scorer = SolutionScorer(executor, store, config.seed, config.sandbox.memory_mb,
                            held_out_secret(store, config.seed, config.held_out))
    ctx = EngineContext(config, store, recorder, executor, scorer, tasks, reporter)
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
        for model in {id(p): p for p in (provider, *by_role.values())}.values():
            model.close()
    store.set_meta("status", "finished")
    return RunResult(store.run_dir, iterations, seed_scores, recorder.calls_sent, recorder.cache_hits,
                     dict(meter.spent), dict(meter.spent_by))


def start_run(config: RunConfig, *, reporter: Reporter | None = None, provider: ModelProvider | None = None,
              run_dir: Path | None = None, providers: Mapping[str, ModelProvider] | None = None,
              executor: Executor | None = None) -> RunResult:
    """Start a new self-improvement run (checks the task and improver before creating anything).
    ``provider`` answers for ``[model]``, ``providers`` for roles with their own model (``meta``,
    ``improver``); either is built from the config when not given, as is ``executor`` (which the run
    closes when it ends; pass one built by ``make_executor`` around your own, e.g. to watch placement)."""
    for task in load_tasks(config.task):
        ensure_valid(task)  # every static problem of a task file, in one message, before any spending
    check_prices(config.cost, config.model.names())
    plugins.load("executor", config.sandbox.executor)  # a misspelt executor fails before anything exists
    source, origin = improver_source(config.improver)
    if run_dir is None:
        check_runs_dir(config.runs_dir)
    provider = provider or make_model(config)
    by_role = role_models(config, providers)
    for model in (provider, *by_role.values()):
        model.check()  # an unreachable server is a one-line error before anything is created
    run_dir = Path(run_dir) if run_dir else new_run_dir(config)
    store = _create_store(run_dir, {"config": config.model_dump(mode="json"),  # held-out secret: before scoring
                                    "held_out_secret": new_secret(config.seed, config.held_out).hex(),
                                    "start_improver": {"source": source, "origin": origin}, "status": "running"})
    try:
        with _locked(run_dir):
            return _drive(store, config, reporter or SilentReporter(), provider, False, by_role, executor)
    finally:
        store.close()


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
               providers: Mapping[str, ModelProvider] | None = None) -> RunResult:
    """Continue a run where it stopped (optionally to more iterations, or with raised cost caps / another
    executor via ``sets``, e.g. ``["cost.max_usd=5"]``); replays recorded model replies."""
    store = RunStore(Path(run_dir))
    try:
        return _resume(store, reporter, provider, iterations, offline, sets, providers)
    finally:
        store.close()


def _resume(store: RunStore, reporter: Reporter | None, provider: ModelProvider | None, iterations: int | None,
            offline: bool, sets: list[str] | None, providers: Mapping[str, ModelProvider] | None) -> RunResult:
    run_dir = store.run_dir
    with _locked(run_dir):
        raw = store.get_meta("config")
        if raw is None or store.get_meta("start_improver") is None:
            raise RunStoreError(f"{run_dir} holds no run configuration; it was not made by `selftaught run`")
        sets = [*(sets or []), *([f"iterations={iterations}"] if iterations is not None else [])]
        config = resume_config(raw, sets)
        if sets:
            store.set_meta("config", config.model_dump(mode="json"))
        provider = provider or make_model(config)
        by_role = role_models(config, providers)
        for model in (provider, *by_role.values()) if not offline else ():
            model.check()
        store.set_meta("status", "running")
        return _drive(store, config, reporter or SilentReporter(), provider, offline, by_role)


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
