"""SQLite run store (WAL). Every write commits at once, so a kill -9 loses at most the write in flight.

Thread-safe: one connection guarded by a lock (the engine writes from a few threads, rarely).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from selftaught.errors import RunStoreError, StoreFault
from selftaught.store.records import (
    CompletionRecord,
    EvaluationRecord,
    ImproverRecord,
    ImproverRunResult,
    ImproverRunTiming,
    InstanceResult,
    IterationRecord,
    MetaEvaluationRecord,
    RepairRecord,
    TransferRecord,
)

SCHEMA_VERSION = 1
DB_NAME = "run.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
  key TEXT PRIMARY KEY, scope TEXT NOT NULL, occurrence INTEGER NOT NULL, model TEXT NOT NULL,
  request TEXT NOT NULL, text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
  latency REAL, role TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS model_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, cache_hit INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS improvers (
  hash TEXT PRIMARY KEY, source TEXT NOT NULL, parent TEXT, origin TEXT NOT NULL, iteration INTEGER,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
  id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, split TEXT NOT NULL, program_hash TEXT NOT NULL,
  score REAL NOT NULL, cpu_seconds REAL, wall_seconds REAL, verdict TEXT NOT NULL, error TEXT, tier TEXT,
  instances TEXT, created REAL NOT NULL, UNIQUE (task, split, program_hash));
CREATE TABLE IF NOT EXISTS programs (hash TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta_evaluations (
  improver_hash TEXT NOT NULL, scope TEXT NOT NULL, val REAL NOT NULL, test REAL NOT NULL, runs TEXT NOT NULL,
  created REAL NOT NULL, PRIMARY KEY (improver_hash, scope));
CREATE TABLE IF NOT EXISTS iterations (
  iteration INTEGER PRIMARY KEY, improver_hash TEXT NOT NULL, candidate_hash TEXT, adopted INTEGER NOT NULL,
  val REAL NOT NULL, test REAL NOT NULL, candidate_val REAL, candidate_test REAL, verdict TEXT NOT NULL,
  error TEXT, model_calls INTEGER, seconds REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS repairs (
  raw_hash TEXT NOT NULL, parent_hash TEXT NOT NULL, source_hash TEXT NOT NULL, steps TEXT NOT NULL,
  created REAL NOT NULL, PRIMARY KEY (raw_hash, parent_hash));
CREATE TABLE IF NOT EXISTS improver_runs (
  scope TEXT NOT NULL, task TEXT NOT NULL, run INTEGER NOT NULL, verdict TEXT NOT NULL,
  host_seconds REAL NOT NULL, created REAL NOT NULL, PRIMARY KEY (scope, task, run));
"""

#: Named, additive, idempotent migrations, applied on every open (so stores made by an older version
#: gain the table the first time a newer one opens them) and listed in meta ``migrations``.
#: Add new ones at the end; never edit one that has shipped.
MIGRATIONS: dict[str, str] = {
    "transfers": """
CREATE TABLE IF NOT EXISTS transfers (
  task TEXT NOT NULL, subject TEXT NOT NULL, program_hash TEXT NOT NULL, n INTEGER NOT NULL,
  val REAL NOT NULL, val_low REAL NOT NULL, val_high REAL NOT NULL,
  test REAL NOT NULL, test_low REAL NOT NULL, test_high REAL NOT NULL, scope TEXT,
  created REAL NOT NULL, PRIMARY KEY (task, subject));
""",
    # Why each reply ended ("length": cut at max_tokens). Not idempotent SQL: see ``_migrate``.
    "finish_reason": "ALTER TABLE completions ADD COLUMN finish_reason TEXT NOT NULL DEFAULT ''",
    # Who wrote each improver version (the model, the host's repair of a reply, the improver's own code).
    "improver_author": "ALTER TABLE improvers ADD COLUMN author TEXT NOT NULL DEFAULT ''",
}


#: Migrations that change a table an older version reads (it passes every column to its record type).
ALTERING = frozenset({"finish_reason", "improver_author"})


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

#: How a record's field is stored when it is not a plain column value: (encode, decode). The JSON of
#: ``instances`` and ``runs`` is the format v0.1 wrote, so old run stores load and new ones stay readable.
_CODECS: dict[tuple[type, str], tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    (CompletionRecord, "request"): (lambda v: json.dumps(v, sort_keys=True), json.loads),
    (EvaluationRecord, "instances"): (lambda v: json.dumps([i.to_json() for i in v]),
                                      lambda v: tuple(InstanceResult.from_json(i) for i in json.loads(v or "[]"))),
    (MetaEvaluationRecord, "runs"): (lambda v: json.dumps([r.to_json() for r in v]),
                                     lambda v: tuple(ImproverRunResult.from_json(r) for r in json.loads(v))),
    (IterationRecord, "adopted"): (int, bool),
    (RepairRecord, "steps"): (json.dumps, json.loads),
}


def _columns(rec: DataclassInstance) -> dict[str, Any]:
    """A record as column values (named like its fields), plus the row's ``created`` time."""
    cls = type(rec)
    out = {}
    for f in fields(rec):
        value = getattr(rec, f.name)
        out[f.name] = _CODECS[(cls, f.name)][0](value) if (cls, f.name) in _CODECS else value
    return {**out, "created": time.time()}


def _record(cls: type[R], row: sqlite3.Row) -> R:
    """The one row-to-record mapping: the record's fields by name (columns only the store keeps, such
    as ``id`` and ``created``, are left out)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: _CODECS[(cls, k)][1](row[k]) if (cls, k) in _CODECS else row[k]
                  for k in row.keys() if k in names})  # noqa: SIM118 (a Row iterates values)


def _fault(run_dir: Path, exc: BaseException) -> StoreFault:
    """A storage failure as one line with the fix (sqlite3 and OS errors are translated here only)."""
    text = str(exc)
    low = text.lower()
    if "full" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return StoreFault(f"the disk holding {run_dir} is full ({text}); free some space, then resume with: "
                          f"selftaught run --resume {run_dir}", text)
    if "readonly" in low or "read-only" in low or getattr(exc, "errno", None) in (errno.EROFS, errno.EACCES) \
            or (run_dir.is_dir() and not os.access(run_dir, os.W_OK)):
        return StoreFault(f"{run_dir} cannot be written ({text}); to run or resume, use a writable place "
                          "(runs_dir, or a copy of the run); show and report work where it is", text)
    return StoreFault(f"the run store in {run_dir} failed: {text}; check the disk, then resume with: "
                      f"selftaught run --resume {run_dir}", text)


def _damaged(run_dir: Path, detail: str) -> RunStoreError:
    """A store whose file is corrupt (or no database at all): one line, and what can still be done."""
    if "not a database" in detail:
        return RunStoreError(f"{run_dir / DB_NAME} is not a SQLite database; pass a directory a selftaught run "
                             "printed")
    return RunStoreError(f"the run store {run_dir / DB_NAME} is damaged ({_line(detail)[:200]}); nothing was "
                         f"changed; restore the run directory from a backup, or start a new run (SQLite's "
                         f"'.recover' command may save its records)")


def _line(text: str) -> str:
    return " ".join(text.split())


#: The file a process running (or resuming) a run holds an exclusive ``flock`` on while it works.
LOCK_NAME = ".lock"
#: What a store still marked 'running' means when no process holds its lock.
ABANDONED = ("its process ended without recording a stop (killed, e.g. with kill -9, or the machine went "
             "down)")


def in_use(run_dir: Path) -> bool:
    """Whether a process holds the run's lock, i.e. is running it now. A store whose status says 'running'
    while nobody holds the lock was abandoned. The probe takes a shared lock for an instant (``run_lock``
    retries briefly, so a run starting at that instant is not refused)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False  # never locked (or unreadable): nobody can be running it through us
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's lock
    return False


def stamp_stop(run_dir: Path, status: str, reason: str) -> None:
    """Record a stop on a short-lived connection of its own: for a process about to end at once (a second
    signal), whose store connection may be anywhere in the main thread. Best effort: a store that stays
    busy for 2 s keeps the status it had (resume accepts 'running' just the same)."""
    try:
        db = sqlite3.connect(Path(run_dir) / DB_NAME, timeout=2, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [("status", json.dumps(status)), ("stop_reason", json.dumps(reason))])
            db.execute("COMMIT")
        finally:
            db.close()
    except sqlite3.Error:
        pass


class RunStore:
    """Everything a run produced; re-readable without re-running anything. Opening one checks its file
    (``PRAGMA quick_check``): a damaged store is one line for every command, never a traceback half-way
    through, nor a resume that builds on records it cannot trust. ``check=False`` is for a poll that
    reads one value of a store a command already checked. A store an older version made (``made_by``) is
    read as it is and migrated only with ``upgrade``: the older version can no longer open it after."""

    def __init__(self, run_dir: Path, *, create: bool = False, check: bool = True, upgrade: bool = False) -> None:
        self.run_dir = Path(run_dir)
        db = self.run_dir / DB_NAME
        if create:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RunStoreError(f"cannot create the run directory {self.run_dir}: {exc.strerror or exc}; "
                                    "set runs_dir to a writable directory") from None
        elif not db.exists():
            raise RunStoreError(
                f"{self.run_dir} is not a selftaught run (no {DB_NAME}); pass the directory a run printed"
            )
        self._lock = threading.RLock()
        existed = db.exists() and db.stat().st_size > 0
        try:
            self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None, timeout=30)
            if existed and check:
                self._check(db)  # before anything writes to it: migrations, WAL mode
            #: the older version that made this store, if one did ("0.1"); see ``upgrade``
            self.made_by = self._made_by() if existed else None
            done = self._migrate(altering=self.made_by is None or upgrade)
        except RunStoreError:
            self._db.close()
            raise
        except sqlite3.OperationalError as exc:
            raise _fault(self.run_dir, exc) from None
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.run_dir, str(exc)) from None
        self._db.row_factory = sqlite3.Row
        if create and self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        applied = self.get_meta("migrations", [])
        if not set(done) <= set(applied):
            self.set_meta("migrations", list(dict.fromkeys([*applied, *done])))
        try:
            (self.run_dir / "improvers").mkdir(exist_ok=True)
        except OSError as exc:
            raise _fault(self.run_dir, exc) from None

    def _check(self, db: Path) -> None:
        """The file's own consistency (whole pages, b-trees, indexes against their tables, NOT NULL) and
        that it is a run store at all. A truncated file reads as zeros where its end was: a stored value
        silently changed, unless the size is checked."""
        try:
            page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            size = db.stat().st_size
            if size % page:
                raise _damaged(self.run_dir, f"{size:,} bytes is not a whole number of {page:,}-byte pages: the "
                                             "file was cut short or appended to")
            found = [row[0] for row in self._db.execute("PRAGMA integrity_check(3)").fetchall()]
        except sqlite3.OperationalError as exc:
            if "malformed" in str(exc).lower() or "corrupt" in str(exc).lower():
                raise _damaged(self.run_dir, str(exc)) from None
            raise
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.run_dir, str(exc)) from None
        if found != ["ok"]:
            raise _damaged(self.run_dir, "; ".join(map(str, found[:3])))
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise RunStoreError(f"{self.run_dir / DB_NAME} is a SQLite database but not a selftaught run store "
                                f"(tables: {', '.join(sorted(tables)[:5])}); pass a directory a run printed")

    def _made_by(self) -> str | None:
        """"0.1" for a store v0.1 made (its completions have no finish_reason), else None. Such a store is
        read as it is; changing a table's columns (``upgrade``) makes it unreadable to v0.1, whose
        reader passes every column to its record type."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(completions)")}
        return "0.1" if columns and "finish_reason" not in columns else None

    def _migrate(self, altering: bool) -> list[str]:
        """The schema, then every migration, on each open; returns those applied. New tables are
        harmless to an older version (it never reads them); a changed table (``ALTERING``) is applied only
        when ``altering``. An ``ALTER TABLE ... ADD COLUMN`` whose column exists already is the one error
        that means "applied"."""
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        done = []
        for name, sql in MIGRATIONS.items():
            if name in ALTERING and not altering:
                continue
            try:
                self._db.executescript(sql)
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise
            done.append(name)
        return done

    # ---- generic ----------------------------------------------------------------------------------
    def _exec(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db.execute(sql, params)
            except sqlite3.OperationalError as exc:
                raise _fault(self.run_dir, exc) from None
            except sqlite3.DatabaseError as exc:  # damaged after the check on open (another writer, the disk)
                raise _damaged(self.run_dir, str(exc)) from None

    def _all(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise _fault(self.run_dir, exc) from None
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.run_dir, str(exc)) from None

    def _insert(self, table: str, rec: DataclassInstance, *, replace: bool = False) -> None:
        """Write one record as a row of ``table`` (columns named like its fields): the first write of a
        key stays (memoised results), unless ``replace``."""
        values = _columns(rec)
        names = ", ".join(values)
        self._exec(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO {table} ({names}) VALUES "
                   f"({', '.join(':' + k for k in values)})", values)

    def _records(self, cls: type[R], sql: str, params: tuple = ()) -> list[R]:
        return [_record(cls, row) for row in self._all(sql, params)]

    def _first(self, cls: type[R], sql: str, params: tuple = ()) -> R | None:
        found = self._records(cls, sql, params)
        return found[0] if found else None

    def close(self) -> None:
        """Fold the write-ahead log into the database file (so a copied or archived run directory is
        complete in ``run.sqlite`` alone), then close."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # read-only or busy: the WAL stays beside the file and is still read
            self._db.close()

    def begin_run(self, meta: dict[str, Any]) -> None:
        """Write a new run's defining records (config, start improver, status) in one transaction: a
        run directory either holds all of them, and can be resumed, or none."""
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in meta.items()])

    def mark_running(self) -> None:
        """Status ``running`` and no ``stop_reason``, in one transaction: a resumed run that finishes
        must read like an uninterrupted one, not keep the reason of a stop it got past."""
        with self._transaction():
            self._db.execute("DELETE FROM meta WHERE key = 'stop_reason'")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('status', ?)", (json.dumps("running"),))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """The block's writes in one transaction: all of them or, on any error, none (a full disk is a
        one-line fault)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise _fault(self.run_dir, exc) from None

    def set_meta(self, key: str, value: Any) -> None:
        self._exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def setdefault_meta(self, key: str, value: Any) -> Any:
        """The stored value of ``key``, storing ``value`` first if there is none (atomic)."""
        self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        return self.get_meta(key)

    def status(self) -> tuple[str, str | None]:
        """(status, stop_reason) as they stand now: a store still marked 'running' that no process holds
        was abandoned (kill -9), and reads as 'interrupted' with that reason (readers never wait on it)."""
        status, reason = str(self.get_meta("status") or "unknown"), self.get_meta("stop_reason")
        if status == "running" and not in_use(self.run_dir):
            return "interrupted", ABANDONED
        return status, reason

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    # ---- model completions (the replay cache) -----------------------------------------------------
    def get_completion(self, key: str) -> CompletionRecord | None:
        return self._first(CompletionRecord, "SELECT * FROM completions WHERE key = ?", (key,))

    def put_completion(self, rec: CompletionRecord) -> None:
        self._insert("completions", rec)

    def log_improver_run(self, scope: str, task: str, run: int, verdict: str, host_seconds: float) -> None:
        """Host time spent serving one improver run (a timing, like ``wall_seconds``: not replayed)."""
        self._insert("improver_runs", ImproverRunTiming(scope=scope, task=task, run=run, verdict=verdict,
                                                        host_seconds=host_seconds), replace=True)

    def improver_runs(self) -> list[ImproverRunTiming]:
        return self._records(ImproverRunTiming, "SELECT * FROM improver_runs ORDER BY created")

    def log_model_event(self, key: str, cache_hit: bool) -> None:
        self._exec("INSERT INTO model_events (key, cache_hit, created) VALUES (?, ?, ?)",
                   (key, int(cache_hit), time.time()))

    def completions(self) -> list[CompletionRecord]:
        return self._records(CompletionRecord, "SELECT * FROM completions ORDER BY created")

    def completion_texts(self, scope: str) -> list[str]:
        """The replies recorded under ``scope`` (e.g. one self-improvement step's), in order."""
        return [str(r["text"]) for r in self._all("SELECT text FROM completions WHERE scope = ? ORDER BY created",
                                                   (scope,))]

    def recent_latencies(self, role: str, n: int = 32) -> list[float]:
        """Seconds the last ``n`` completions of ``role`` took (the smoke gate paces its replies by them)."""
        rows = self._all("SELECT latency FROM completions WHERE role = ? AND latency IS NOT NULL "
                         "ORDER BY created DESC LIMIT ?", (role, n))
        return [float(r["latency"]) for r in rows]

    def completion_count(self) -> int:
        """Completions recorded: every request of an uninterrupted run adds one (keys are unique), so
        differences of this count are call figures that a resumed run reproduces exactly."""
        return int(self._all("SELECT COUNT(*) AS n FROM completions")[0]["n"])

    def model_event_counts(self) -> dict[str, int]:
        rows = self._all("SELECT cache_hit, COUNT(*) AS n FROM model_events GROUP BY cache_hit")
        counts = {"hits": 0, "misses": 0}
        for r in rows:
            counts["hits" if r["cache_hit"] else "misses"] = r["n"]
        return counts

    # ---- programs and evaluations ---------------------------------------------------------------
    def put_program(self, program_hash: str, source: str) -> None:
        self._exec("INSERT OR IGNORE INTO programs VALUES (?, ?)", (program_hash, source))

    def get_program(self, program_hash: str) -> str | None:
        rows = self._all("SELECT source FROM programs WHERE hash = ?", (program_hash,))
        return rows[0]["source"] if rows else None

    def get_evaluation(self, task: str, split: str, program_hash: str) -> EvaluationRecord | None:
        return self._first(EvaluationRecord, "SELECT * FROM evaluations WHERE task = ? AND split = ? AND "
                           "program_hash = ?", (task, split, program_hash))

    def put_evaluation(self, rec: EvaluationRecord) -> None:
        self._insert("evaluations", rec)

    def evaluations(self) -> list[EvaluationRecord]:
        return self._records(EvaluationRecord, "SELECT * FROM evaluations ORDER BY id")

    # ---- improvers ----------------------------------------------------------------------------------
    def put_improver(self, rec: ImproverRecord, *, replace: bool = False) -> None:
        """``replace``: the record replaces one of the same hash (a screened candidate that its step then
        returned becomes that step's version)."""
        self._insert("improvers", rec, replace=replace)
        path = self.run_dir / "improvers" / f"{rec.origin}_{rec.iteration}_{rec.hash[:12]}.py"
        if not path.exists():
            try:
                path.write_text(rec.source)
            except OSError as exc:
                raise _fault(self.run_dir, exc) from None

    def get_improver(self, improver_hash: str) -> ImproverRecord | None:
        return self._first(ImproverRecord, "SELECT * FROM improvers WHERE hash = ?", (improver_hash,))

    def improvers(self) -> list[ImproverRecord]:
        return self._records(ImproverRecord, "SELECT * FROM improvers ORDER BY created")

    # ---- meta-evaluations and iterations -----------------------------------------------------------
    def put_meta_evaluation(self, rec: MetaEvaluationRecord) -> None:
        self._insert("meta_evaluations", rec)

    def get_meta_evaluation(self, improver_hash: str, scope: str) -> MetaEvaluationRecord | None:
        return self._first(MetaEvaluationRecord, "SELECT * FROM meta_evaluations WHERE improver_hash = ? AND "
                           "scope = ?", (improver_hash, scope))

    def meta_evaluations(self) -> list[MetaEvaluationRecord]:
        return self._records(MetaEvaluationRecord, "SELECT * FROM meta_evaluations ORDER BY created")

    def put_iteration(self, rec: IterationRecord) -> None:
        self._insert("iterations", rec, replace=True)

    def iterations(self) -> list[IterationRecord]:
        return self._records(IterationRecord, "SELECT * FROM iterations ORDER BY iteration")

    # ---- transfer evaluations ----------------------------------------------------------------------
    def put_transfer(self, rec: TransferRecord) -> None:
        """Insert or replace the row of (task, subject): re-running a transfer updates it."""
        self._insert("transfers", rec, replace=True)

    def transfers(self) -> list[TransferRecord]:
        return self._records(TransferRecord, "SELECT * FROM transfers ORDER BY task, subject = 'u(s)' DESC, created")

    # ---- candidate repairs ------------------------------------------------------------------------
    def put_repair(self, rec: RepairRecord) -> None:
        self._insert("repairs", rec)

    def get_repair(self, raw_hash: str, parent_hash: str) -> RepairRecord | None:
        return self._first(RepairRecord, "SELECT * FROM repairs WHERE raw_hash = ? AND parent_hash = ?",
                           (raw_hash, parent_hash))

    def repairs(self) -> list[RepairRecord]:
        return self._records(RepairRecord, "SELECT * FROM repairs ORDER BY created")
