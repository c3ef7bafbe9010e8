"""Drive the real CLI against the fault server and compare what runs stored.

The CLI runs as a child process (exit codes, signals and stderr are what a user sees); the sandbox and the
store are real; model replies are SCRIPTED by ``tests/faults/server.py``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

#: A small run: 2 iterations of the compact improver on max_list, 2 improver runs per meta-utility.
RUN_SETS = ["budget.meta_utility_tests=2", "budget.max_responses_per_call=2", "budget.improver_seconds=60",
            "model.max_retries=1", "model.timeout=1.5", "model.concurrency=2"]


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selftaught.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, check=False)


def run_args(base_url: str, run_dir: Path, iterations: int = 2) -> list[str]:
    """``selftaught run`` of the small run into ``run_dir``'s parent (the run dir is found afterwards)."""
    sets = [*RUN_SETS, f"runs_dir='{run_dir}'"]
    # no live report: its rewrites checkpoint the store after every iteration, and the disk-full test
    # needs the store's own write pattern to fill a small disk mid-run
    return ["run", "--model", "openai", "--base-url", base_url, "--model-name", "fault", "--task", "max_list",
            "--improver", "compact", "--iterations", str(iterations), "--no-live-report",
            *[a for s in sets for a in ("--set", s)]]


def resume_args(run_dir: Path, base_url: str | None = None) -> list[str]:
    extra = ["--set", f"model.base_url='{base_url}'"] if base_url else []
    return ["run", "--resume", str(run_dir), *extra]


def only_run(runs_dir: Path) -> Path:
    found = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.exists() else []
    assert len(found) == 1, found
    return found[0]


def meta(run_dir: Path, key: str) -> Any:
    db = run_dir / "run.sqlite"
    try:
        with sqlite3.connect(db) as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # a run on read-only media: SQLite cannot make its WAL index there
        with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def progress(run_dir: Path) -> int:
    """Rows a run has committed so far (completions, evaluations, meta-evaluations, iterations)."""
    db = run_dir / "run.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return sum(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                       for t in ("completions", "evaluations", "meta_evaluations", "iterations"))
    except sqlite3.OperationalError:  # not created yet
        return 0


#: Columns that measure time (they differ between any two runs, interrupted or not) are left out.
_TIMING = {"created", "latency", "seconds", "cpu_seconds", "wall_seconds", "cpu", "host_seconds"}
#: Row ids count insertions, whose order threads decide (and ``sqlite_sequence`` holds their counters).
_ROW_IDS = {"id"}
#: The only other differences two runs of one config may have, each with its reason:
#: - ``meta.config.runs_dir``: every run of these tests is made in a directory of its own;
#: - ``model_events``: a log of every request of every session, sent or replayed, so a resumed run logs
#:   more rows, with replays (``cache_hit``) where the uninterrupted run sent: compared as the set of
#:   request keys asked, which must be the same.
_EVENT_LOGS = {"model_events"}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in _TIMING}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return _clean(json.loads(value))
        except ValueError:
            return value
    return value


def snapshot(run_dir: Path) -> dict[str, Any]:
    """Every table of a run's store, ``meta`` included, in a canonical order; left out are timings, row ids
    and the volatile parts named above (and nothing else)."""
    out: dict[str, Any] = {}
    with sqlite3.connect(run_dir / "run.sqlite") as con:
        con.row_factory = sqlite3.Row
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                            "LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            rows = [{k: r[k] for k in r.keys() if k not in _ROW_IDS}  # noqa: SIM118 - a Row iterates values
                    for r in con.execute(f"SELECT * FROM {table}")]
            if table == "meta":
                values = {r["key"]: _clean(r["value"]) if r["value"][:1] in "[{" else json.loads(r["value"])
                          for r in rows}
                values.get("config", {}).pop("runs_dir", None)
                out[table] = values
            elif table in _EVENT_LOGS:
                out[table] = sorted({r["key"] for r in rows})
            else:
                out[table] = sorted((_clean(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))
    return out


def iteration_lines(stdout: str) -> list[str]:
    """The printed iteration table's rows without the 'secs' column (a duration)."""
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 9:
            rows.append(cells[:7] + cells[8:])
    return rows
