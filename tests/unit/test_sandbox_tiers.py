"""Tier selection, labels, and the refusal to run improvers without isolation (real sandbox, no mocks)."""

from __future__ import annotations

import pytest

from selftaught.config import load_config
from selftaught.engine.improver import run_improver
from selftaught.engine.session import make_executor
from selftaught.errors import SandboxUnavailable
from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.cold import ColdProcessExecutor
from selftaught.sandbox.local import LocalExecutor
from selftaught.sandbox.tiers import select_tier


def test_best_tier_is_probed_and_labelled() -> None:
    ex = LocalExecutor()
    try:
        assert ex.tier.split("+")[0] in ("bwrap", "seccomp", "unsandboxed")
        assert ex.isolated == (ex.choice.letter != "C")
        assert f"tier {ex.choice.letter}" in ex.describe()
        with ex.spawn(Limits(wall_seconds=10)) as w:
            assert w.load("def f(x):\n    return x + 1\n").ok
            assert [w.call("f", [i]).value for i in range(3)] == [1, 2, 3]  # one child serves many calls
    finally:
        ex.close()


def test_each_worker_is_a_fresh_child() -> None:
    ex = LocalExecutor()
    try:
        for _ in range(2):
            with ex.spawn(Limits(wall_seconds=10)) as w:
                assert w.load("import sys\nSEEN = hasattr(sys, 'leak')\nsys.leak = 1\n"
                              "def f():\n    return SEEN\n").ok
                assert w.call("f", []).value is False
    finally:
        ex.close()


def test_unknown_tier_is_a_user_error() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox tier"):
        select_tier("Z")


def test_improvers_refuse_tier_c_unless_opted_in(monkeypatch) -> None:
    monkeypatch.setattr("selftaught.plugins.load", lambda kind, name: ColdProcessExecutor)
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):
        make_executor(load_config())
    ex = make_executor(load_config(sets=["sandbox.allow_unsandboxed=true"]))
    assert ex.allow_unsandboxed and ex.tier == "unsandboxed"
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):
        run_improver(ColdProcessExecutor(), "def improve_algorithm(s, u, l):\n    return s\n", "x", None, None,
                     seconds=5)


def test_an_executor_declares_what_the_engine_reads_with_defaults() -> None:
    from selftaught.sandbox.executor import Executor, machine_cpus

    class Minimal(Executor):  # a third party's executor that declares only how to spawn
        def spawn(self, limits: Limits):
            raise NotImplementedError

    ex = Minimal()
    assert (ex.tier, ex.isolated, ex.allow_unsandboxed, ex.cpus) == ("unknown", False, False, machine_cpus())
    assert ex.describe() == "tier 'unknown'"
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):  # undeclared isolation: unsandboxed
        run_improver(ex, "def improve_algorithm(s, u, l):\n    return s\n", "x", None, None, seconds=5)


def test_an_executor_option_the_executor_does_not_take_is_a_config_error(tmp_path) -> None:
    from selftaught.engine.runner import start_run
    from selftaught.errors import ConfigError
    from selftaught.models.scripted import ScriptedModel

    with pytest.raises(ConfigError, match=r"^sandbox: unknown option 'ray_address' for executor 'local'") as info:
        make_executor(load_config(sets=["sandbox.ray_address='auto'"]))
    assert "\n" not in str(info.value)
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match="ray_address"):  # before anything exists
        start_run(load_config(overrides={"runs_dir": str(runs)}, sets=["sandbox.ray_address='auto'"]),
                  provider=ScriptedModel(replies=["x"]))
    assert not runs.exists()


def test_timeout_kills_and_pool_recovers() -> None:
    ex = LocalExecutor()
    try:
        with ex.spawn(Limits(wall_seconds=0.5)) as w:
            assert w.load("def f():\n    while True:\n        pass\n").ok
            assert w.call("f", []).verdict is Verdict.TIMEOUT
            assert not w.alive
        with ex.spawn(Limits(wall_seconds=5)) as w:
            assert w.load("def g():\n    return 7\n").ok and w.call("g", []).value == 7
    finally:
        ex.close()


def test_store_records_tier_and_violation(tmp_path) -> None:
    """A solution that tries to fork is scored 0 with the verdict ``violation``, tier recorded."""
    from selftaught.engine.utility import SolutionScorer
    from selftaught.store import RunStore
    from selftaught.tasks.registry import load_task

    ex = LocalExecutor()
    try:
        if not ex.isolated:
            pytest.skip(f"needs a seccomp tier (A/B); this machine runs {ex.tier}")
        store = RunStore(tmp_path / "run", create=True)
        rec = SolutionScorer(ex, store, 0).evaluate(
            load_task("max_list"), "import os\ndef algorithm(xs):\n    os.fork()\n    return max(xs)\n", "val")
    finally:
        ex.close()
    assert rec.score == 0.0 and rec.verdict == "violation" and rec.tier == ex.tier
    [stored] = [e for e in store.evaluations() if e.program_hash == rec.program_hash]
    assert stored.verdict == "violation" and stored.tier == ex.tier
    assert {i.verdict for i in stored.instances} == {"violation"}
