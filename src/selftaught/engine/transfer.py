"""Transfer: a run's improvers, unchanged, on other tasks (the paper's transfer table).

For each task, u(s) is the task's seed solution scored on its instances; û(I_t) is the meta-utility of
the run's improver of iteration t on that task alone (each of ``n`` improver runs starts from the task's
seed solution with fresh budgets), with no further self-improvement. Everything goes through the run's
own machinery and store: the same ``MetaUtility``, ``SolutionScorer`` and budgets, the same run seed
(so the same instances), and the run's ``Recorder``, so model replies are cached in the run and a
repeated transfer replays them instead of calling the model again (``offline=True`` insists on it).

Reported numbers are held-out test numbers with 95% Student-t intervals: over instances for u(s), over
improver runs for û (few runs: the interval is honest about it). Validation numbers are kept beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from selftaught.engine.baseline import MeanInterval, instance_scores
from selftaught.engine.context import Reporter, SilentReporter
from selftaught.engine.meta_utility import MetaUtility
from selftaught.engine.runner import load_tasks
from selftaught.engine.session import RunModels, RunSession, locked, stored_config
from selftaught.errors import ConfigError, RunStoreError
from selftaught.models.base import ModelProvider
from selftaught.store import RunStore, TransferRecord
from selftaught.tasks.base import Task
from selftaught.tasks.registry import ensure_valid

SEED_SOLUTION = "u(s)"


@dataclass(frozen=True)
class TransferResult:
    run_dir: Path
    #: per task: u(s) first, then û(I_t) in the order of ``iterations``
    records: list[TransferRecord]
    iterations: list[int]
    model_calls_sent: int
    model_calls_replayed: int


def subject(iteration: int) -> str:
    return f"I_{iteration}"


def transfer_scope(task: Task, improver_hash: str, runs: int) -> str:
    """Where one improver's runs on one task are stored; ``runs`` is part of it (a different n is a
    different sample, not a replay)."""
    return f"transfer/{task.name}/n{runs}/{improver_hash[:16]}"


def _choose_iterations(store: RunStore, wanted: Sequence[int] | None) -> dict[int, str]:
    """{iteration: improver hash in force after it}; by default I_0 and the final I_T."""
    done = {r.iteration: r.improver_hash for r in store.iterations()}
    if not done:
        raise RunStoreError(f"{store.run_dir} has no finished iteration yet: let the run score I_0 "
                            "(selftaught run --resume RUN_DIR) before transferring it")
    chosen = list(dict.fromkeys(wanted if wanted else [0, max(done)]))
    missing = [t for t in chosen if t not in done]
    if missing:
        raise RunStoreError(f"{store.run_dir} has no iteration {missing[0]}: choose among "
                            f"{', '.join(map(str, sorted(done)))} (--iterations 0,{max(done)})")
    return {t: done[t] for t in chosen}


def _record(task: Task, name: str, h: str, val: list[float], test: list[float],
            scope: str | None) -> TransferRecord:
    v, t = MeanInterval.of(val), MeanInterval.of(test)
    return TransferRecord(task=task.name, subject=name, program_hash=h, n=t.n, val=v.mean, val_low=v.low,
                          val_high=v.high, test=t.mean, test_low=t.low, test_high=t.high, scope=scope)


def transfer(run_dir: Path | str, tasks: str | Sequence[str], *, iterations: Sequence[int] | None = None,
             runs: int | None = None, reporter: Reporter | None = None,
             provider: ModelProvider | None = None, offline: bool = False,
             sets: Sequence[str] | None = None) -> TransferResult:
    """Evaluate u(s) and û(I_t) of a finished (or stopped) run on ``tasks``; saved in the run store.

    ``runs`` overrides the number of improver runs per û (default: the run's ``meta_utility_tests``);
    every other budget, the model and the seed are the run's own; ``sets`` (``--set key=value``) may change
    what a resume may change (threads, executor, caps, transport), nothing that changes the results.
    """
    with locked(RunStore(Path(run_dir))) as store:
        config = stored_config(store, list(sets or []))
        if runs is not None:
            config = config.model_copy(update={"budget": config.budget.model_copy(
                update={"meta_utility_tests": runs})})
        chosen = load_tasks(tasks if isinstance(tasks, str) else ",".join(tasks))
        if not chosen:
            raise ConfigError("no task to transfer to: pass --tasks, e.g. --tasks sort_speed,string_grid")
        for task in chosen:
            ensure_valid(task)
        improvers = _choose_iterations(store, iterations)
        # the improver runs use [model.improver] when the run has one; the run's cost caps go on counting
        # (the session's meter starts from everything the run has spent)
        models = RunModels.build(config, provider, check=not offline)
        with RunSession(store, config, models, offline=offline) as session:
            records = _transfer(session, chosen, improvers, reporter or SilentReporter())
        return TransferResult(store.run_dir, records, list(improvers), session.recorder.calls_sent,
                              session.recorder.cache_hits)


def _transfer(session: RunSession, tasks: list[Task], improvers: dict[int, str],
              reporter: Reporter) -> list[TransferRecord]:
    """u(s), then û of each chosen improver, per task; each record committed as soon as it is known."""
    store, n = session.store, session.config.budget.meta_utility_tests
    records: list[TransferRecord] = []
    for task in tasks:
        reporter.event("transfer_subject", task=task.name, subject=SEED_SOLUTION)
        val, test = (session.scorer.evaluate(task, task.seed_solution, split) for split in ("val", "test"))
        records.append(_record(task, SEED_SOLUTION, val.program_hash, instance_scores(val),
                               instance_scores(test), None))
        store.put_transfer(records[-1])
        ctx = session.context([task], reporter)
        for t, h in improvers.items():
            source = store.get_improver(h)
            assert source is not None, "every iteration's improver is stored with it"
            reporter.event("transfer_subject", task=task.name, subject=subject(t))
            scope = transfer_scope(task, h, n)
            meta = MetaUtility(ctx).evaluate(source.source, scope)
            records.append(_record(task, subject(t), h, [r.val for r in meta.runs],
                                   [r.test for r in meta.runs], scope))
            store.put_transfer(records[-1])  # committed at once: an interrupted transfer keeps it
    return records
