"""Parallel meta-utility evaluation records exactly what a serial one records.

Model replies are SCRIPTED (a function of the request and its replay seed, so of scope + occurrence);
sandbox, store and engine are real. Timings are the only fields allowed to differ.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

from tests.conftest import scripted_config

from selftaught.engine.runner import resume_run, start_run
from selftaught.models.base import ChatRequest
from selftaught.models.scripted import ScriptedModel
from selftaught.sandbox import Limits
from selftaught.sandbox.local import LocalExecutor
from selftaught.sandbox.slots import SlottedExecutor
from selftaught.store import RunStore

SOLUTIONS = ["def algorithm(xs):\n    return max(xs)\n", "def algorithm(xs):\n    return xs[-1]\n",
             "def algorithm(xs):\n    return sorted(xs)[len(xs) // 2]\n", "def algorithm(xs):\n    return min(xs)\n"]
IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    best, score = initial_solution, utility(initial_solution)
    for round in range(2):
        replies = language_model.batch_prompt("Be brief.", ["Improve:\\n" + best] * 3, temperature=0.7)
        for code in extract_code(replies):
            if code and utility(code) > score:
                best, score = code, utility(code)
    return best
'''


def responder(request: ChatRequest) -> str:
    time.sleep(0.01 * (request.seed % 3))  # replies finish out of order under concurrency
    if "improve_algorithm" in request.user:
        return "```python\n" + IMPROVER + "```"
    return "```python\n" + SOLUTIONS[request.seed % 4] + "```"


SETTINGS = {"improver": "__improver__", "iterations": 1, "budget.meta_utility_tests": 4,
            "budget.meta_utility_calls": 3, "adoption": "nonzero"}


def _go(tmp_path: Path, name: str, **sets: object):
    path = tmp_path / "improver.py"
    path.write_text(IMPROVER)
    cfg = scripted_config(**{**SETTINGS, "improver": str(path), **sets})
    return start_run(cfg, provider=ScriptedModel(responder=responder), run_dir=tmp_path / name)


def recorded(run_dir: Path) -> dict:
    """Everything a run recorded that must not depend on scheduling (timings dropped)."""
    store = RunStore(run_dir)
    return {
        "completions": sorted((c.key, c.scope, c.occurrence, c.text, c.role) for c in store.completions()),
        "evaluations": sorted((e.task, e.split, e.program_hash, e.score, e.verdict,
                               tuple((i.score, i.verdict) for i in e.instances))
                              for e in store.evaluations()),
        "meta": sorted((m.improver_hash, m.scope, m.val, m.test, str(m.runs)) for m in store.meta_evaluations()),
        "iterations": [(i.iteration, i.improver_hash, i.candidate_hash, i.adopted, i.val, i.test, i.verdict)
                       for i in store.iterations()],
    }


def test_parallel_run_records_exactly_what_a_serial_run_records(tmp_path):
    serial = _go(tmp_path, "serial", **{"sandbox.parallel": 1, "sandbox.cpus": 1})
    parallel = _go(tmp_path, "parallel", **{"sandbox.parallel": "auto", "sandbox.cpus": 2})
    a, b = recorded(serial.run_dir), recorded(parallel.run_dir)
    assert len(a["completions"]) > 20 and len(a["meta"]) >= 2
    assert a == b


def test_parallel_replay_of_a_serial_run_is_identical_and_sends_nothing(tmp_path):
    serial = _go(tmp_path, "serial", **{"sandbox.parallel": 1, "sandbox.cpus": 1})
    replay = tmp_path / "replay"
    shutil.copytree(serial.run_dir, replay)
    with sqlite3.connect(replay / "run.sqlite") as db:  # keep only the model cache: recompute the rest
        for table in ("evaluations", "meta_evaluations", "iterations", "programs"):
            db.execute(f"DELETE FROM {table}")
    result = resume_run(replay, provider=ScriptedModel(replies=["unused"]), offline=True,
                        sets=["sandbox.parallel=auto", "sandbox.cpus=2"])
    assert result.model_calls_sent == 0
    assert recorded(replay) == recorded(serial.run_dir)


BUSY = """
import time
def f(utility=None):
    start = time.time()
    while time.process_time() < 0.25:
        pass
    return [start, time.time()]
"""


def test_slots_bound_the_programs_running_at_once():
    executor = SlottedExecutor(LocalExecutor(), cpus=2)
    spans: list[list[float]] = []

    def one() -> None:
        with executor.spawn(Limits(wall_seconds=60)) as worker:
            assert worker.load(BUSY).ok
            res = worker.call("f", [])
            assert res.ok, res.error
            spans.append(res.value)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(spans) == 5
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap <= 2


def test_a_program_waiting_on_the_host_gives_its_slot_back():
    """One slot: program A's utility call is served only once program B has run, which needs A's slot.
    Without the release this deadlocks (and the handler's wait times out)."""
    executor = SlottedExecutor(LocalExecutor(), cpus=1)
    b_done = threading.Event()

    def handler(target: str, method: str, args: list) -> float:
        threading.Thread(target=run_b).start()
        assert b_done.wait(30), "B never got the slot A was not using"
        return 0.5

    def run_b() -> None:
        with executor.spawn(Limits(wall_seconds=60)) as worker:
            assert worker.load("def g():\n    return 2\n").ok
            assert worker.call("g", []).value == 2
        b_done.set()

    with executor.spawn(Limits(wall_seconds=60)) as worker:
        assert worker.load("def f(utility):\n    return utility('x') + 1\n").ok
        res = worker.call("f", [{"__proxy__": "utility", "str": "", "budget": 1}], handler=handler)
    assert res.ok and res.value == 1.5


def test_a_scoring_run_holds_one_slot_for_all_its_instances():
    """cpu_slot() is re-entrant per thread: spawn, load and every call inside it use the slot the thread
    already holds (one slot, no deadlock), and a second thread waits for the whole block."""
    executor = SlottedExecutor(LocalExecutor(), cpus=1)
    order: list[str] = []

    def other() -> None:
        with executor.spawn(Limits(wall_seconds=60)) as worker:
            order.append("other")
            assert worker.load("def g():\n    return 2\n").ok

    with executor.cpu_slot():
        t = threading.Thread(target=other)
        t.start()
        with executor.spawn(Limits(wall_seconds=60)) as worker:
            assert worker.load("def f(x):\n    return x + 1\n").ok
            assert [worker.call("f", [i]).value for i in range(3)] == [1, 2, 3]
        time.sleep(0.2)
        order.append("block")
    t.join(60)
    assert order == ["block", "other"]


def test_reserve_warms_the_pool_in_the_background_without_overshooting():
    local = LocalExecutor(pool_size=2)
    executor = SlottedExecutor(local, cpus=2)
    try:
        executor.reserve(5)
        deadline = time.monotonic() + 60
        while len(local.pool._idle) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(local.pool._idle) == 5  # kept (size grew), and no more started than reserved
        with executor.spawn(Limits(wall_seconds=60)) as worker:
            assert worker.load("def g():\n    return 2\n").ok
        assert len(local.pool._idle) == 5
    finally:
        executor.close()
    assert not local.pool._idle
