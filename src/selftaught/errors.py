"""One error tree, grouped by what the caller does about it.

``UserError`` subclasses are the user's to fix: the CLI prints their message (which must say what is
wrong *and* how to fix it) on one line, without a traceback. Anything else is a bug and keeps its
traceback. Dependencies' exceptions (openai, sqlite3, subprocess) are translated where they are called.
A builtin exception is raised only for a bug (a caller broke a documented precondition) or where it is
caught nearby; ``tests/unit/test_error_tree.py`` lists each such place with its reason.
"""

from __future__ import annotations


class SelftaughtError(Exception):
    """Base of every error selftaught raises on purpose."""


class UserError(SelftaughtError):
    """Something the user can fix: bad config, unknown task, unreachable server, missing extra."""


class ConfigError(UserError):
    """The configuration (TOML file or flag) is malformed or names an unknown key."""


class TaskError(UserError):
    """A task (built-in name or task file) cannot be loaded or is invalid."""


class PluginNotFound(UserError):
    """An unknown plug-in name (task, model provider, executor)."""


class MissingExtra(UserError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs an optional dependency: pip install 'selftaught[{extra}]'")


class ModelUnavailable(UserError):
    """The model endpoint cannot be reached or refuses our credentials."""


class SandboxUnavailable(UserError):
    """No isolation tier that the run accepts works on this machine."""


class RunStoreError(UserError):
    """The run directory is missing, locked, or not a selftaught run."""


class OutputError(UserError):
    """A file the user asked for (a report page) cannot be written where it was asked for."""


class StoreFault(RunStoreError):
    """The run store cannot be written or read (disk full, read-only place, I/O error). Every write before
    the fault is committed, so a run stopped by one resumes once the disk is fixed."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause  # what the OS or SQLite said, without our advice


class BudgetExhausted(SelftaughtError):
    """A hard cap of the whole run (not an improver's per-call budget) was reached; resumable."""


class ModelError(SelftaughtError):
    """A model request failed after all retries, or the server sent an unusable reply (not a user error:
    the run records status ``stopped`` with the reason and can be resumed)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the run records status ``interrupted`` and can be resumed. A
    ``KeyboardInterrupt`` so that nothing on the way up swallows it as an ordinary error."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
