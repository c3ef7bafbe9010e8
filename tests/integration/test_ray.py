"""The Ray executor on a real local Ray cluster (one node on 127.0.0.1): programs run sandboxed on the
node, their RPCs are served by the host, and a run gives the same records as with the local executor.

Model replies are SCRIPTED; Ray, sandbox, store and engine are real. Skipped without selftaught[ray].
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator

import pytest
from tests.unit.test_parallel import _go, recorded

from selftaught.engine.runner import resume_run
from selftaught.errors import BudgetExhausted
from selftaught.models.scripted import ScriptedModel
from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.executor import RefusedCall
from selftaught.store import RunStore

ray = pytest.importorskip("ray", reason="the Ray executor needs: pip install 'selftaught[ray]'")
pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.timeout(300)]

PROGRAM = '''
import time
def ask(utility):
    try:
        utility("refused")
    except Exception as exc:
        return "refused: " + str(exc), utility("fine") + utility("fine")
def spin():
    while True:
        pass
'''
UTILITY = {"__proxy__": "utility", "str": "", "budget": 3}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def executor(ray_cluster: None):
    from selftaught.sandbox.ray_executor import RayExecutor

    ex = RayExecutor()
    yield ex
    ex.close()


def test_programs_run_on_the_node_and_their_calls_are_served_by_the_host(executor):
    from selftaught.sandbox.tiers import select_tier

    # the node runs the same tiered local executor as a single machine would, and says which tier
    assert executor.tier == f"ray+{select_tier().label}" and executor.cpus == 2 and len(executor.nodes) == 1
    served = []

    def handler(target: str, method: str, args: list) -> float:
        served.append((target, method, args))
        if args[0] == "refused":
            raise RefusedCall("budget exhausted")
        return 0.25

    with executor.spawn(Limits(wall_seconds=30)) as worker:
        assert worker.load(PROGRAM).ok
        res = worker.call("ask", [UTILITY], handler=handler)
    assert res.verdict is Verdict.OK and res.value == ["refused: budget exhausted", 0.5]
    assert served == [("utility", "__call__", ["refused"])] + [("utility", "__call__", ["fine"])] * 2


def test_limits_hold_on_the_node_and_a_host_error_kills_the_program(executor):
    with executor.spawn(Limits(wall_seconds=1.0)) as worker:
        assert worker.load(PROGRAM).ok
        res = worker.call("spin", [], wall_seconds=1.0)
        assert res.verdict is Verdict.TIMEOUT and not worker.alive

    def over_cap(target: str, method: str, args: list) -> float:
        raise BudgetExhausted("cost cap")

    with executor.spawn(Limits(wall_seconds=30)) as worker:
        assert worker.load(PROGRAM).ok
        with pytest.raises(BudgetExhausted):
            worker.call("ask", [UTILITY], handler=over_cap)
        assert not worker.alive


def test_a_run_on_ray_records_the_same_scores_as_on_the_local_executor(tmp_path, ray_cluster):
    local = _go(tmp_path, "local", **{"sandbox.executor": "local"})
    on_ray = _go(tmp_path, "ray", **{"sandbox.executor": "ray"})
    assert recorded(on_ray.run_dir) == recorded(local.run_dir)
    from selftaught.sandbox.tiers import select_tier

    assert {e.tier for e in RunStore(on_ray.run_dir).evaluations()} == {f"ray+{select_tier().label}"}
    # and a replay of the local run's model cache on Ray, sending nothing, gives the same again
    replay = tmp_path / "replay"
    shutil.copytree(local.run_dir, replay)
    with sqlite3.connect(replay / "run.sqlite") as db:
        for table in ("evaluations", "meta_evaluations", "iterations", "programs"):
            db.execute(f"DELETE FROM {table}")
    result = resume_run(replay, provider=ScriptedModel(replies=["unused"]), offline=True,
                        sets=["sandbox.executor=ray"])
    assert result.model_calls_sent == 0 and recorded(replay) == recorded(local.run_dir)


def test_a_node_without_isolation_makes_the_cluster_unsandboxed(ray_cluster):
    """One isolation gate for every executor: a node that runs programs unconfined (here the 'process'
    executor, tier C) makes the Ray executor report itself unisolated, so improvers refuse to run."""
    from selftaught.engine.improver import run_improver
    from selftaught.errors import SandboxUnavailable
    from selftaught.sandbox.ray_executor import RayExecutor

    ex = RayExecutor(node_executor="process")
    try:
        assert ex.isolated is False and "unsandboxed" in ex.tier
        with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):
            run_improver(ex, "def improve_algorithm(s, u, lm):\n    return s\n", "s",
                         None, None, seconds=5)  # type: ignore[arg-type]
    finally:
        ex.close()


def test_a_call_that_breaks_the_host_handler_is_a_protocol_verdict_on_ray(executor):
    def fragile(target: str, method: str, args: list) -> float:
        return float(args[0])  # a hostile argument makes this raise ValueError

    with executor.spawn(Limits(wall_seconds=30)) as worker:
        assert worker.load("def ask(utility):\n    return utility('not a number')\n").ok
        res = worker.call("ask", [UTILITY], handler=fragile)
    assert res.verdict is Verdict.PROTOCOL and "ValueError" in (res.error or "")
