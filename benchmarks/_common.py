"""Shared pieces of the throughput benchmarks: a CPU-heavy scripted workload, recording it once, and
replaying it from the model cache alone (every evaluation recomputed, no model call sent).

The workload is the paper's seed improver on ``max_list`` with SCRIPTED model replies: each reply is a
correct solution that burns a fixed amount of CPU per instance and carries a variant comment derived from
the request's replay seed, so every improver run scores solutions of its own (nothing is memoised
across runs) and the sandboxed utility work dominates, as it does in a real run on a hard task.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from selftaught.config import RunConfig, load_config
from selftaught.engine.runner import RunResult, resume_run, start_run
from selftaught.improvers import improver_source
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel

#: ~15 ms of CPU per instance: 20 instances make an evaluation of ~0.3 s. (It was 150_000, which this
#: comment and docs/scale.md also called ~15 ms, but CPython 3.11 runs that loop in ~3.4 ms: an
#: evaluation was ~70 ms of program CPU, so once workers became warm (~1 ms to spawn instead of a fresh
#: interpreter) the one-off start of the sandboxes a parallel evaluation keeps open, ~0.1 s each, was a
#: quarter of the whole workload. 700_000 is the ~15 ms per instance this workload was designed with,
#: still light next to real tasks, whose per-instance limits are 0.1-2 s.)
BURN = 700_000


def responder(request: ChatRequest) -> str:
    if "def improve_algorithm" in request.user:  # the meta level: propose the seed improver, varied
        return f"```python\n# variant {request.seed}\n{improver_source('seed')[0]}```"
    return (f"```python\n# variant {request.seed}\ndef algorithm(xs):\n    s = 0\n    for i in range({BURN}):\n"
            f"        s += i\n    return max(xs)\n```")


def config(**sets: Any) -> RunConfig:
    base = {"task": "max_list", "improver": "seed", "iterations": 0, "model.provider": "scripted",
            "budget.improver_seconds": 300.0, "adoption": "nonzero"}
    return load_config(overrides={**base, **sets})


def record(run_dir: Path, **sets: Any) -> RunResult:
    """Run once against the scripted model, recording every reply."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return start_run(config(**sets), provider=ScriptedModel(responder=responder), run_dir=run_dir)


def cache_only_copy(src: Path, dst: Path) -> Path:
    """A copy of a run that keeps only its model cache: a resume recomputes everything else."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    with sqlite3.connect(dst / "run.sqlite") as db:
        for table in ("evaluations", "meta_evaluations", "iterations", "programs"):
            db.execute(f"DELETE FROM {table}")
    return dst


class Clock:
    """A reporter that timestamps engine events (to time one meta-utility evaluation exactly)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float, dict]] = []

    def event(self, name: str, **fields: Any) -> None:
        self.events.append((name, time.perf_counter(), fields))

    def first(self, name: str) -> float:
        return next(t for n, t, _ in self.events if n == name)


def replay(src: Path, work: Path, sets: list[str], reporter: Any = None) -> tuple[RunResult, float]:
    """Replay ``src`` from its cache alone (offline: a model call would be an error); returns wall time."""
    dst = cache_only_copy(src, work)
    started = time.perf_counter()
    result = resume_run(dst, provider=ScriptedModel(replies=["unused"]), offline=True, sets=sets,
                        reporter=reporter)
    return result, time.perf_counter() - started


def meta_evaluation_seconds(src: Path, work: Path, sets: list[str]) -> float:
    """Wall time of iteration 0's meta-utility evaluation in a cache-only replay of ``src``."""
    clock = Clock()
    result, _ = replay(src, work, sets, clock)
    assert result.model_calls_sent == 0
    return clock.first("meta_evaluation") - clock.first("iteration_start")


def parse_args(doc: str | None) -> argparse.Namespace:
    """``--repeats`` and ``--burn`` (which sets ``BURN``, the CPU work per instance) of a benchmark."""
    global BURN
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burn", type=int, default=None, help="loop iterations per instance (default: BURN)")
    args = parser.parse_args()
    if args.burn is not None:
        BURN = args.burn
    return args


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def machine_cpus_text() -> str:
    from selftaught.sandbox.executor import machine_cpus

    return str(machine_cpus())
