"""A run session: everything one run has open, opened in one place and closed together.

Every entry point (``run``, ``resume``, ``evaluate``, ``transfer``, the sandbox-flag experiment, the
report's judge) works on a run the same way: it holds the run directory's lock (``locked``), reads the
run's config, builds its model providers (``RunModels``), then opens a ``RunSession``: cost meter and
recorder at once, executor and scorer on first use. Leaving the session closes all of them, whatever
happened, in one order. The entry points keep only their own logic.

Plug-ins (model providers, executors) are built from the config on one strict path
(``plugins.build``): a key the user set that the plug-in does not take is a one-line config error.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from selftaught import plugins
from selftaught.config import MODEL_ROLES, RunConfig, resume_config
from selftaught.engine.concurrency import resolve
from selftaught.engine.context import EngineContext, Reporter, SilentReporter
from selftaught.engine.held_out import held_out_secret, model_draws_salt
from selftaught.engine.utility import SolutionScorer
from selftaught.errors import RunStoreError, SandboxUnavailable
from selftaught.models.base import ModelProvider
from selftaught.models.cost import CostMeter
from selftaught.models.recorder import Recorder
from selftaught.sandbox.executor import Executor
from selftaught.sandbox.slots import SlottedExecutor
from selftaught.store import RunStore
from selftaught.store.sqlite import LOCK_NAME
from selftaught.tasks.base import Task

#: ``[model]`` keys the engine uses itself; every other key is an option of the provider plug-in.
ENGINE_MODEL_KEYS = {"provider", "name", "max_tokens", "stop"}
#: ``[sandbox]`` keys the engine uses itself (``memory_mb``: each program's limit, set per worker);
#: every other key is an option of the executor plug-in.
ENGINE_SANDBOX_KEYS = {"executor", "memory_mb", "parallel", "cpus", "allow_unsandboxed"}


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """This process is the run directory's only writer while the block runs."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only archive, someone else's directory
        raise RunStoreError(f"{run_dir} cannot be written ({exc.strerror or exc}); to run or resume, use a "
                            "writable place (a copy of the run); show and report work where it is") from None
    try:
        for attempt in range(10):  # a watcher's probe (``in_use``) holds a shared lock for an instant
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 9:
                    raise RunStoreError(f"{run_dir} is in use by another selftaught process; wait for it or "
                                        "stop it") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextmanager
def locked(store: RunStore) -> Iterator[RunStore]:
    """``store`` with its run's lock held while the block runs; the store is closed after it (also when
    taking the lock or the block fails)."""
    try:
        with run_lock(store.run_dir):
            yield store
    finally:
        store.close()


def stored_config(store: RunStore, sets: Sequence[str] = ()) -> RunConfig:
    """The config a run was made with, with ``--set`` overrides of the keys a resume may change."""
    raw = store.get_meta("config")
    if raw is None:
        raise RunStoreError(f"{store.run_dir} holds no run configuration; it was not made by `selftaught run`")
    return resume_config(raw, list(sets))


def _section(config: RunConfig, role: str) -> str:
    """Where ``role``'s model settings come from: its own section, or ``[model]``."""
    own = {"meta": config.model.meta, "improver": config.model.improver}.get(role)
    return f"model.{role}" if own is not None else "model"


def _options(section: BaseModel, engine_keys: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A config section's plug-in options: (those the user set, the others at their defaults)."""
    chosen = section.model_dump(exclude=engine_keys, exclude_defaults=True)
    return chosen, {k: v for k, v in section.model_dump(exclude=engine_keys).items() if k not in chosen}


def make_model(config: RunConfig, role: str = "default") -> ModelProvider:
    """The provider of ``role``'s model (``[model]`` unless ``[model.<role>]`` overrides it)."""
    settings = config.model.for_role(role)
    chosen, defaults = _options(settings, ENGINE_MODEL_KEYS)
    return plugins.build("model", settings.provider, chosen, section=_section(config, role),
                         shared={"model": settings.name, **defaults})


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


def _executor_arguments(config: RunConfig) -> tuple[Any, dict[str, Any]]:
    chosen, defaults = _options(config.sandbox, ENGINE_SANDBOX_KEYS)
    return plugins.arguments("executor", config.sandbox.executor, chosen, section="sandbox",
                             shared={"memory_mb": config.sandbox.memory_mb, **defaults})


def check_executor(config: RunConfig) -> None:
    """A misspelt executor, or an option it does not take, is an error before anything exists."""
    _executor_arguments(config)


def make_executor(config: RunConfig, inner: Executor | None = None) -> Executor:
    """The configured executor plug-in, or ``inner`` when given, behind CPU slots so parallel improver
    runs never oversubscribe its cores. Improvers rewrite code, so an unsandboxed tier is refused unless
    the user opted in (which the slots wrapper then carries)."""
    if inner is None:
        cls, given = _executor_arguments(config)
        inner = cls(**given)
    if not inner.isolated and not config.sandbox.allow_unsandboxed:
        inner.close()
        raise SandboxUnavailable(
            f"only an unsandboxed tier ('{inner.tier}') works here, and improvers rewrite code: "
            "install bubblewrap (scripts/install_system.sh) or set sandbox.allow_unsandboxed = true")
    return SlottedExecutor(inner, resolve(config.sandbox.cpus, inner.cpus),
                           allow_unsandboxed=config.sandbox.allow_unsandboxed)


@dataclass
class RunModels:
    """The model providers of a run: ``[model]``'s, and one per role with a model of its own."""

    provider: ModelProvider
    by_role: dict[str, ModelProvider] = field(default_factory=dict)

    @classmethod
    def build(cls, config: RunConfig, provider: ModelProvider | None = None,
              providers: Mapping[str, ModelProvider] | None = None, *, roles: bool = True,
              check: bool = True) -> RunModels:
        """``provider`` / ``providers`` (for roles) when given, the rest built from ``config``. ``roles``:
        False for work that asks only ``[model]`` (the judge, the sandbox-flag experiment). ``check``:
        an unreachable server is a one-line error now, before the caller creates anything."""
        models = cls(provider or make_model(config), role_models(config, providers) if roles else {})
        if check:
            try:
                for model in models.distinct():
                    model.check()
            except BaseException:
                models.close()
                raise
        return models

    def distinct(self) -> list[ModelProvider]:
        """Each provider once (roles may share ``[model]``'s)."""
        return list({id(p): p for p in (self.provider, *self.by_role.values())}.values())

    def close(self) -> None:
        for model in self.distinct():
            model.close()


class RunSession:
    """One run's open resources: its store and config, its models behind a recorder (replies cached in the
    store; with ``metered``, the run's cost caps counted over all its sessions), and, built on first use,
    its executor (``make_executor``, or ``executor`` when given) and the scorer of solutions.
    ``offline``: replay recorded replies only. Used as a context manager; leaving it closes everything,
    including the models and a given executor."""

    def __init__(self, store: RunStore, config: RunConfig, models: RunModels, *, offline: bool = False,
                 metered: bool = True, executor: Executor | None = None) -> None:
        self.store = store
        self.config = config
        self.models = models
        self._executor = executor
        self._scorer: SolutionScorer | None = None
        try:
            self.meter = CostMeter.for_run(config.cost, config.model.names(), str(store.run_dir),
                                           store.completions()) if metered else None
            self.recorder = Recorder(models.provider, store, offline=offline, meter=self.meter,
                                     by_role=models.by_role,
                                     salt=model_draws_salt(store, config.seed, config.held_out))
        except BaseException:
            self._close_rest()
            raise

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self.config)
        return self._executor

    @property
    def scorer(self) -> SolutionScorer:
        if self._scorer is None:
            self._scorer = SolutionScorer(self.executor, self.store, self.config.seed, self.config.sandbox.memory_mb,
                                          held_out_secret(self.store, self.config.seed, self.config.held_out))
        return self._scorer

    def context(self, tasks: list[Task], reporter: Reporter | None = None) -> EngineContext:
        """What the engine's parts share while they work on ``tasks``."""
        return EngineContext(self.config, self.store, self.recorder, self.executor, self.scorer, tasks,
                             reporter or SilentReporter())

    def close(self) -> None:
        """The recorder (its request pools), then the executor, then the models."""
        try:
            self.recorder.close()
        finally:
            self._close_rest()

    def _close_rest(self) -> None:
        try:
            if self._executor is not None:
                self._executor.close()
        finally:
            self.models.close()

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

