"""What a run holds, in the terms the analyses use: its programs, and which of them the model wrote.

Read from the store only. Two facts are not stored directly and are derived here, once:
- the seed solution's hash per task: the meta key ``seed_solution_hash`` ({task: hash}), which a run
  records when it scores the seed solutions; for runs made before it did, the task's first validation
  evaluation (the engine scores each task's seed solution before anything else, and evaluations are
  memoised, so that row is the seed's even after a resume);
- the improvers a self-improvement step proposed but did not return: the code of every reply to a
  ``meta`` request (the model rewriting an improver) that is not already a stored improver version;
- who wrote a program: built-in improvers (``seed``, ``compact``, ...) and ``file`` improvers were
  written by people; every other improver (``iteration``, ``sandbox_flag``, origins added later) and
  every solution that is not a seed solution counts as the model's (the safe default for an audit).
"""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.analysis.syntax import reply_code
from selftaught.engine.programs import program_hash
from selftaught.improvers import BUILTIN
from selftaught.store import EvaluationRecord, ImproverRecord, MetaEvaluationRecord, RunStore

HUMAN_ORIGINS = frozenset(BUILTIN) | {"file"}


def model_written(imp: ImproverRecord) -> bool:
    """Whether the model wrote an improver version: its recorded author (the model, or a model reply the
    host repaired), else, for stores made before authors were recorded, any origin people do not have."""
    if imp.author:
        return imp.author in ("model", "repaired")
    return imp.origin not in HUMAN_ORIGINS


@dataclass(frozen=True)
class ProgramRef:
    """One program of a run: an improver or a solution (with the task it was scored on)."""

    kind: str  # "improver" or "solution"
    hash: str
    source: str
    model_written: bool
    origin: str  # improvers: their origin; solutions: "seed" or "model"
    tasks: tuple[str, ...] = ()


def seed_solution_hashes(store: RunStore) -> dict[str, str]:
    """{task: hash of its seed solution}."""
    recorded = store.get_meta("seed_solution_hash")
    if isinstance(recorded, dict) and recorded:
        return {str(k): str(v) for k, v in recorded.items()}
    seeds: dict[str, str] = {}
    for ev in store.evaluations():
        if ev.split == "val" and ev.task not in seeds:
            seeds[ev.task] = ev.program_hash
    return seeds


def programs(store: RunStore) -> list[ProgramRef]:
    """Every improver version (creation order), every proposed improver the step did not return
    (origin ``proposal``), then every evaluated solution (first-evaluation order)."""
    out = [ProgramRef("improver", imp.hash, imp.source, model_written(imp), imp.origin)
           for imp in store.improvers()]
    known = {ref.hash for ref in out}
    for completion in store.completions():
        code = reply_code(completion.text) if completion.role == "meta" else None
        if code and "improve_algorithm" in code and (h := program_hash(code)) not in known:
            known.add(h)
            out.append(ProgramRef("improver", h, code, True, "proposal"))
    seeds = set(seed_solution_hashes(store).values())
    tasks: dict[str, list[str]] = {}
    for ev in store.evaluations():
        seen = tasks.setdefault(ev.program_hash, [])
        if ev.task not in seen:
            seen.append(ev.task)
    for h, on in tasks.items():
        source = store.get_program(h)
        if source is None:
            continue
        seed = h in seeds
        out.append(ProgramRef("solution", h, source, not seed, "seed" if seed else "model", tuple(on)))
    return out


def evaluation_pairs(store: RunStore) -> list[tuple[EvaluationRecord, EvaluationRecord]]:
    """(val, test) evaluations of the same program on the same task."""
    by_key: dict[tuple[str, str], dict[str, EvaluationRecord]] = {}
    for ev in store.evaluations():
        by_key.setdefault((ev.task, ev.program_hash), {})[ev.split] = ev
    return [(d["val"], d["test"]) for d in by_key.values() if "val" in d and "test" in d]


def deciding_evaluation(store: RunStore, improver_hash: str, val: float, test: float
                        ) -> MetaEvaluationRecord | None:
    """The meta-evaluation behind an iteration's (val, test): the one with those exact numbers
    (screening or confirmation), else the screening one (scope ``mu/<hash16>``)."""
    mine = [m for m in store.meta_evaluations() if m.improver_hash == improver_hash]
    for m in mine:
        if m.val == val and m.test == test:
            return m
    screening = [m for m in mine if m.scope == f"mu/{improver_hash[:16]}"]
    return screening[0] if screening else (mine[0] if mine else None)
