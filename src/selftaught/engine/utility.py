"""Downstream utility: score a solution program on a task's instances, sandboxed, in the host's terms.

The host sends each instance's arguments to a sandboxed worker, gets the answer back as plain data,
checks CPU time (measured by the host, see ``sandbox.channel``) against the task's limit and scores the
answer with the task's checker. A failed instance (exception, invalid answer, timeout, crash) scores 0
and the evaluation goes on; a crashed or killed worker is replaced. Results are memoised per (task,
split, program hash) in the run store, so a resumed run does not re-evaluate.

Held-out secrecy (see ``held_out``): test instances derive from the run's secret, and the random seed
each call starts from is a keyed hash of (secret, task, split, index), so what a program can read back
(``random.getstate()``, ``np.random.get_state()``) reveals neither the secret nor the run seed.
"""

from __future__ import annotations

import math
import os
import reprlib
import threading
import time
from dataclasses import replace
from typing import Any

from selftaught.engine.held_out import call_seed, seeded_secret
from selftaught.engine.programs import MAX_PROGRAM_CHARS, program_hash
from selftaught.sandbox import Executor, Limits, Verdict, Worker
from selftaught.store import EvaluationRecord, InstanceResult, RunStore
from selftaught.tasks.base import UNKNOWN, InvalidAnswer, Split, Task

_REPR = reprlib.Repr()  # Python 3.11's takes no keyword arguments
_REPR.maxlist = _REPR.maxtuple = 24
_REPR.maxdict = _REPR.maxset = 12
_REPR.maxstring = _REPR.maxother = 120
_REPR.maxlevel = 4
INVALID = "invalid"  # verdict of an answer the checker rejected
#: Longest solution (characters) an improver may send to ``utility``: over it, the call scores 0 and
#: counts against the budget, and the host neither runs nor stores it.
MAX_SOLUTION = MAX_PROGRAM_CHARS
ANSWER_CHARS = 200  # characters of a wrong answer kept in the store (for ``utility.feedback``)
FEEDBACK_CASES = 3  # wrong validation instances one ``utility.feedback`` call shows
SLOW = "cpu"  # verdict of an answer over the CPU-time limit


def wall_backstop(cpu_limit: float) -> float:
    """Wall seconds after which a call is killed as hung. The limit that scores is CPU time; wall time
    only catches programs that block or sleep. On a loaded machine a child gets a fraction of a core, so
    the backstop stretches by the load factor: a call within its CPU limit is never killed for the wall
    time the machine's other work took from it."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # not available on this platform
        load = 1.0
    return max(0.5, 3 * cpu_limit + 0.25) * max(1.0, load)


def clean_text(text: str, limit: int = 500) -> str:
    """A string from a program (or a checker's message about its answer) safe to store: bounded, and
    with anything that is not valid UTF-8 (lone surrogates) replaced."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


class SolutionScorer:
    """Scores solutions of one run; thread-safe. ``secret``: the run's held-out secret (None: derived
    from ``seed``, for host-only scoring and runs made before secrets existed)."""

    def __init__(self, executor: Executor, store: RunStore, seed: int, memory_mb: int = 4096,
                 secret: bytes | None = None) -> None:
        self.executor = executor
        self.store = store
        self.seed = seed
        self.memory_mb = memory_mb
        self.secret = secret
        self._seed_key = secret if secret is not None else seeded_secret(seed)
        self._instances: dict[tuple[str, str], list[Any]] = {}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], threading.Lock] = {}

    def instances(self, task: Task, split: Split) -> list[Any]:
        with self._lock:
            key = (task.name, split)
            if key not in self._instances:
                self._instances[key] = task.instances(split, self.seed, self.secret)
            return self._instances[key]

    def evaluate(self, task: Task, source: str, split: Split) -> EvaluationRecord:
        h = program_hash(source)
        # One evaluation per (task, split, program) even when parallel improver runs ask at once (they
        # all score the seed solution first): the others wait for it and read the memo.
        with self._lock:
            key_lock = self._pending.setdefault((task.name, split, h), threading.Lock())
        with key_lock:
            memo = self.store.get_evaluation(task.name, split, h)
            if memo is not None:
                return memo
            self.store.put_program(h, source)
            rec = self._run(task, source, h, split)
            self.store.put_evaluation(rec)
            return rec

    def _run(self, task: Task, source: str, h: str, split: Split) -> EvaluationRecord:
        wall_limit = wall_backstop(task.time_limit)
        limits = Limits(wall_seconds=max(10.0, wall_limit), memory_mb=self.memory_mb,
                        cpu_seconds=int(task.time_limit * 2 * (task.n_val + task.n_test)) + 30)
        per_instance: list[InstanceResult] = []
        started = time.monotonic()
        worker: Worker | None = None
        load_failure: InstanceResult | None = None
        instances = self.instances(task, split)
        # One CPU slot for the whole evaluation: it is CPU work from start to end (no RPCs), and queueing
        # again for every instance would keep a worker (a zygote) open per waiting run, not per core.
        try:
            with self.executor.cpu_slot():
                for i, instance in enumerate(instances):
                    if load_failure is None and (worker is None or not worker.alive):
                        worker = self.executor.spawn(limits)
                        loaded = worker.load(source)
                        if not loaded.ok:
                            load_failure = InstanceResult(score=0.0, cpu=0.0, verdict=str(loaded.verdict),
                                                          error=f"loading: {loaded.error}")
                    if load_failure is not None:
                        per_instance.append(load_failure)
                        continue
                    assert worker is not None
                    res = worker.call(task.entry, list(task.arguments(instance)),
                                      seed=call_seed(self._seed_key, task.name, split, i), wall_seconds=wall_limit)
                    per_instance.append(self._judge(task, instance, res))
                    del res  # one answer in host memory at a time: it may be as large as the channel allows
        finally:
            if worker is not None:
                worker.close()
        scores = [p.score for p in per_instance]
        failures = [p for p in per_instance if p.verdict != "ok"]
        return EvaluationRecord(
            task=task.name, split=split, program_hash=h,
            score=sum(scores) / len(scores) if scores else 0.0,
            cpu_seconds=sum(p.cpu for p in per_instance), wall_seconds=time.monotonic() - started,
            verdict=failures[0].verdict if failures else "ok",
            error=failures[0].error if failures else None,
            tier=self.executor.tier, instances=tuple(per_instance),
        )

    @staticmethod
    def _judge(task: Task, instance: Any, res: Any) -> InstanceResult:
        out = InstanceResult(score=0.0, cpu=round(res.cpu_seconds, 6), verdict=str(res.verdict),
                             # the program's own clock said less: it patched what its interpreter reads
                             guest_cpu=round(res.guest_cpu_seconds or 0.0, 6) if res.clock_disagrees else None)
        if res.verdict is not Verdict.OK:
            return replace(out, error=clean_text(res.error or ""))
        if res.cpu_seconds > task.time_limit:
            return replace(out, verdict=SLOW, error=f"took {res.cpu_seconds:.3f} s of CPU, limit {task.time_limit} s")
        try:
            score = float(task.score_with_time(instance, res.value, res.cpu_seconds))
        except InvalidAnswer as exc:
            return replace(out, verdict=INVALID, error=clean_text(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a checker choking on a hostile answer is an invalid answer
            return replace(out, verdict=INVALID,
                           error=clean_text(f"checker rejected the answer: {type(exc).__name__}: {exc}"))
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):  # a checker bug: clamp, but say so
            out = replace(out, checker=f"score() returned {score!r}, outside [0, 1] (clamped)")
        score = min(1.0, max(0.0, score)) if math.isfinite(score) else 0.0
        return replace(out, score=score, answer=None if score >= 1.0 else short_repr(res.value))


def short_repr(value: Any, limit: int = ANSWER_CHARS) -> str:
    """``repr`` of plain data, cut to ``limit`` characters. Answers arrive decoded from the channel (JSON
    values and arrays, size-capped there), so their repr is bounded work; a huge list is cut, not built:
    ``reprlib`` shortens long containers before formatting them."""
    text = _REPR.repr(value)
    return clean_text(text if len(text) <= limit else text[:limit - 3] + "...", limit)


def feedback_text(task: Task, instances: list[Any], rec: EvaluationRecord, cases: int = FEEDBACK_CASES) -> str:
    """What ``utility.feedback`` tells an improver: the validation score and up to ``cases`` instances the
    program got wrong (its arguments, its answer or error, and the right answer where the task knows it).
    Validation only: the caller passes validation instances, and nothing here reads another split."""
    lines = [f"score {rec.score:.3f} on {len(rec.instances)} validation instances"]
    wrong = [(i, r) for i, r in enumerate(rec.instances) if r.score < 1.0]
    if not wrong:
        return lines[0] + "; every instance right"
    lines[0] += f"; {len(wrong)} wrong, for example:"
    # The shortest cases (a small model reads a short case better), one of each verdict first.
    by_size = sorted(wrong, key=lambda ir: len(short_repr(task.arguments(instances[ir[0]]), 120)))
    first: dict[str, tuple[int, InstanceResult]] = {}
    for ir in by_size:
        first.setdefault(ir[1].verdict, ir)
    chosen = {i for i, _ in first.values()}
    ordered = sorted(first.values(), key=by_size.index) + [ir for ir in by_size if ir[0] not in chosen]
    cases_shown: dict[str, None] = {}  # distinct lines, in order
    for i, r in ordered:
        args = ", ".join(short_repr(a, 120) for a in task.arguments(instances[i]))
        if r.verdict == "ok" or r.verdict == INVALID:
            got = f"returned {r.answer}" if r.answer is not None else "returned a wrong answer"
        else:
            got = f"failed ({r.verdict}): {clean_text(r.error or '', 160)}"
        expected = task.expected(instances[i])
        cases_shown[f"- {task.entry}({args}) {got}"
                    + ("" if expected is UNKNOWN else f"; expected {short_repr(expected, 120)}")] = None
        if len(cases_shown) == cases:
            break
    return "\n".join([*lines, *cases_shown])


class UtilityService:
    """The ``utility`` an improver run holds: validation scores only, ``budget`` calls, then 0.
    ``feedback(solution)``, also one call of the budget, says what went wrong on validation instances."""

    def __init__(self, scorer: SolutionScorer, task: Task, budget: int) -> None:
        self.scorer = scorer
        self.task = task
        self.budget = budget
        self.uses = 0

    @property
    def description(self) -> str:
        return self.task.description

    def __call__(self, solution: Any) -> float:
        self.uses += 1
        if self.uses > self.budget or not isinstance(solution, str) or not solution.strip() \
                or len(solution) > MAX_SOLUTION:
            return 0.0
        return self.scorer.evaluate(self.task, solution, "val").score

    def feedback(self, solution: Any) -> str:
        """One utility call: the validation score and the instances the program got wrong (held-out
        instances never appear). Over the budget or not a program: a one-line reason, like the 0 of
        ``__call__``."""
        self.uses += 1
        if self.uses > self.budget:
            return "score 0.000: the utility budget is used up"
        if not isinstance(solution, str) or not solution.strip() or len(solution) > MAX_SOLUTION:
            return "score 0.000: not a program"
        rec = self.scorer.evaluate(self.task, solution, "val")
        return feedback_text(self.task, self.scorer.instances(self.task, "val"), rec)
