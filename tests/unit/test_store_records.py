"""Typed records in the run store: rows written in v0.1's format (lists of JSON objects) load as typed
per-instance and per-run results, new rows keep that format, and a run records its seed solutions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import FIXED_MAX

from selftaught.engine.programs import program_hash
from selftaught.store import (
    EvaluationRecord,
    ImproverRunResult,
    InstanceResult,
    IterationRecord,
    MetaEvaluationRecord,
    RunStore,
)
from selftaught.store.sqlite import DB_NAME
from selftaught.tasks.registry import load_task

#: Exactly what v0.1 (main before typed records) wrote: ``json.dumps`` of the per-instance dicts the
#: scorer built (optional keys absent) and of the per-run dicts the meta-utility built.
V01_INSTANCES = json.dumps([
    {"score": 1.0, "cpu": 0.01, "verdict": "ok"},
    {"score": 0.0, "cpu": 0.02, "verdict": "error", "error": "ValueError: boom"},
    {"score": 0.0, "cpu": 0.0, "verdict": "error", "error": "loading: SyntaxError"},
    {"score": 1.0, "cpu": 0.03, "verdict": "ok", "guest_cpu": 0.001},
    {"score": 1.0, "cpu": 0.01, "verdict": "ok", "checker": "score() returned 1.5, outside [0, 1] (clamped)"},
])
V01_RUNS = json.dumps([
    {"task": "max_list", "run": 0, "verdict": "ok", "error": None, "lm_calls": 4, "utility_calls": 7,
     "solution_hash": "ab" * 32, "val": 0.6, "test": 0.5},
    {"task": "max_list", "run": 1, "verdict": "smoke_failed", "error": "no improve_algorithm", "lm_calls": 0,
     "utility_calls": 0, "solution_hash": None, "val": 0.0, "test": 0.0},
])


def _v01_store(run_dir: Path) -> None:
    RunStore(run_dir, create=True).close()
    db = sqlite3.connect(run_dir / DB_NAME)
    db.execute("INSERT INTO evaluations (task, split, program_hash, score, cpu_seconds, wall_seconds, verdict,"
               " error, tier, instances, created) VALUES ('max_list', 'val', 'p1', 0.6, 0.07, 0.5, 'error',"
               " 'ValueError: boom', 'process', ?, 0)", (V01_INSTANCES,))
    db.execute("INSERT INTO meta_evaluations VALUES ('i1', 'mu/i1', 0.3, 0.25, ?, 0)", (V01_RUNS,))
    db.execute("INSERT INTO iterations VALUES (0, 'i1', NULL, 1, 0.3, 0.25, NULL, NULL, 'ok', NULL, 6, 1.5, 0)")
    db.commit()
    db.close()


def test_a_v01_store_loads_as_typed_records(tmp_path: Path) -> None:
    _v01_store(tmp_path)
    store = RunStore(tmp_path)
    [ev] = store.evaluations()
    assert ev.instances == (
        InstanceResult(score=1.0, cpu=0.01, verdict="ok"),
        InstanceResult(score=0.0, cpu=0.02, verdict="error", error="ValueError: boom"),
        InstanceResult(score=0.0, cpu=0.0, verdict="error", error="loading: SyntaxError"),
        InstanceResult(score=1.0, cpu=0.03, verdict="ok", guest_cpu=0.001),
        InstanceResult(score=1.0, cpu=0.01, verdict="ok", checker="score() returned 1.5, outside [0, 1] (clamped)"),
    )
    meta = store.get_meta_evaluation("i1", "mu/i1")
    assert meta is not None and meta.runs == (
        ImproverRunResult(task="max_list", run=0, verdict="ok", lm_calls=4, utility_calls=7,
                          solution_hash="ab" * 32, val=0.6, test=0.5),
        ImproverRunResult(task="max_list", run=1, verdict="smoke_failed", error="no improve_algorithm"),
    )
    assert store.iterations() == [IterationRecord(
        iteration=0, improver_hash="i1", candidate_hash=None, adopted=True, val=0.3, test=0.25, candidate_val=None,
        candidate_test=None, verdict="ok", error=None, model_calls=6, seconds=1.5)]
    store.close()


def test_new_rows_are_written_in_the_v01_format(tmp_path: Path) -> None:
    _v01_store(tmp_path / "old")
    old = RunStore(tmp_path / "old")
    [ev], [meta] = old.evaluations(), old.meta_evaluations()
    old.close()
    new = RunStore(tmp_path / "new", create=True)
    new.put_evaluation(ev)
    new.put_meta_evaluation(meta)
    new.close()
    db = sqlite3.connect(tmp_path / "new" / DB_NAME)
    [(instances,)] = db.execute("SELECT instances FROM evaluations").fetchall()
    [(runs,)] = db.execute("SELECT runs FROM meta_evaluations").fetchall()
    db.close()
    assert json.loads(instances) == json.loads(V01_INSTANCES)  # optional keys stay absent, not null
    assert json.loads(runs) == json.loads(V01_RUNS)


def test_records_round_trip_through_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path, create=True)
    ev = EvaluationRecord("max_list", "test", "p2", 0.5, 0.1, 0.2, "ok", None, "process",
                          (InstanceResult(score=0.5, cpu=0.1, verdict="ok"),))
    meta = MetaEvaluationRecord("i2", "final/i2", 0.5, 0.4, (ImproverRunResult(task="t", run=0, verdict="ok"),))
    store.put_evaluation(ev)
    store.put_meta_evaluation(meta)
    assert store.get_evaluation("max_list", "test", "p2") == ev
    assert store.meta_evaluations() == [meta]
    store.close()


def test_a_run_records_its_seed_solutions_hash(run_scripted) -> None:
    result, _ = run_scripted(lambda request: FIXED_MAX, iterations=0)
    store = RunStore(result.run_dir)
    recorded = store.get_meta("seed_solution_hash")
    store.close()
    assert recorded == {"max_list": program_hash(load_task("max_list").seed_solution)}
