"""Findings of the analyses, kept beside the run in its own table of the run's SQLite file.

The table is this module's alone (its own connection, ``CREATE TABLE IF NOT EXISTS``, WAL like the run
store), so analysis can record what it found without the run store knowing about analysis. Each
analyzer's findings are replaced as a whole when it runs again: re-analysing a run is idempotent.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from selftaught.errors import RunStoreError
from selftaught.store.sqlite import DB_NAME

SEVERITIES = ("high", "medium", "low", "info")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
  id INTEGER PRIMARY KEY AUTOINCREMENT, analyzer TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL,
  subject_kind TEXT NOT NULL, subject TEXT NOT NULL, message TEXT NOT NULL, line INTEGER, snippet TEXT,
  evidence TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS findings_by_analyzer ON findings (analyzer);
"""


@dataclass(frozen=True)
class Finding:
    """One thing an analyzer found, with the evidence a reader needs to check it."""

    analyzer: str  # "audit", "reward_hacking", "strategies"
    rule: str  # e.g. "dangerous-import", "val-above-test", "genetic_algorithm"
    severity: str  # one of SEVERITIES
    subject_kind: str  # "improver", "solution", "iteration", "meta_evaluation", "run"
    subject: str  # a program hash, "t3", ...
    message: str
    line: int | None = None
    snippet: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


class FindingsTable:
    """The ``findings`` table of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        db = Path(run_dir) / DB_NAME
        if not db.exists():
            raise RunStoreError(f"{run_dir} is not a selftaught run (no {DB_NAME}); pass a run directory")
        try:
            self._db = sqlite3.connect(db, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RunStoreError(f"cannot open the findings table in {db}: {exc}") from None
        self._db.row_factory = sqlite3.Row

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def replace(self, analyzer: str, findings: list[Finding]) -> None:
        """Atomically swap every finding of ``analyzer`` for ``findings``."""
        rows = [(f.analyzer, f.rule, f.severity, f.subject_kind, f.subject, f.message, f.line, f.snippet,
                 json.dumps(f.evidence, sort_keys=True, default=str), time.time()) for f in findings]
        if any(f.analyzer != analyzer for f in findings):
            raise ValueError(f"replace({analyzer!r}) got findings of another analyzer")
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM findings WHERE analyzer = ?", (analyzer,))
            self._db.executemany(
                "INSERT INTO findings (analyzer, rule, severity, subject_kind, subject, message, line, snippet,"
                " evidence, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def all(self, analyzer: str | None = None) -> list[Finding]:
        sql = "SELECT * FROM findings" + (" WHERE analyzer = ?" if analyzer else "") + " ORDER BY id"
        rows = self._db.execute(sql, (analyzer,) if analyzer else ()).fetchall()
        return [Finding(r["analyzer"], r["rule"], r["severity"], r["subject_kind"], r["subject"], r["message"],
                        r["line"], r["snippet"] or "", json.loads(r["evidence"] or "{}")) for r in rows]
