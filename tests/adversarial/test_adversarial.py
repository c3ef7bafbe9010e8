"""Each hostile program must be contained (the host and the pool survive, nothing leaks, nothing outside
scratch changes) and get the right recorded verdict, at the best tier this machine offers."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import psutil
import pytest
from tests.adversarial.cases import CASES, MARKER, Case

from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.executor import RefusedCall

pytestmark = pytest.mark.adversarial


def _skip_unless(case_tiers: str, tier: str) -> None:
    if tier not in case_tiers:
        pytest.skip(f"this assertion needs tier {'/'.join(case_tiers)}; this machine runs tier {tier} "
                    "(install bubblewrap + pyseccomp for tier A)")


def _pool_still_works(executor) -> None:
    with executor.spawn(Limits(wall_seconds=10)) as w:
        assert w.load("def f():\n    return 41 + 1\n").ok
        assert w.call("f", []).value == 42


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_contained_with_right_verdict(case: Case, executor, tier, secrets) -> None:
    _skip_unless(case.tiers, tier)
    with executor.spawn(case.limits) as worker:
        loaded = worker.load(case.source)
        assert loaded.ok, loaded.error
        res = worker.call("attack", [secrets.as_args()], wall_seconds=case.limits.wall_seconds)
    assert str(res.verdict) in case.verdicts, f"{case.name}: got {res.verdict} ({res.error}), value {res.value!r}"
    assert MARKER not in repr(res.value) and MARKER not in (res.output or "") and MARKER not in (res.error or "")
    if case.contained is not None and res.verdict is Verdict.OK:
        assert case.contained(res.value), f"{case.name} escaped: {res.value!r}"
    assert len(res.output) < 70_000  # printed output is bounded
    assert not Path(secrets.root / "pwned").exists() and not Path("/tmp/selftaught-pwned").exists()
    assert not Path("/usr/pwned").exists() and not Path("/pwned").exists()
    _pool_still_works(executor)


def test_monkeypatched_proxies_gain_no_budget(executor) -> None:
    """The improver rewrites its proxies' budgets and forges calls; the host's counters decide."""
    improver = (
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    utility.budget = 10**9\n    language_model.budget = 10**9\n"
        "    scores = [utility('def algorithm(x):\\n    return x\\n') for _ in range(8)]\n"
        "    forged = []\n"
        "    for target, method in (('utility', 'set_budget'), ('language_model', 'reset'), ('host', 'exec')):\n"
        "        try:\n            forged.append(utility._rpc(target, method, [10**9]))\n"
        "        except Exception as e:\n            forged.append(type(e).__name__)\n"
        "    return repr((scores, forged))\n")
    served = {"utility": 0}

    def handler(target: str, method: str, args: list):
        if target == "utility" and method == "__call__":
            served["utility"] += 1
            return 0.5 if served["utility"] <= 3 else 0.0  # the host's budget: 3 calls
        raise RefusedCall(f"unknown call {target}.{method}")

    with executor.spawn(Limits(wall_seconds=20)) as worker:
        assert worker.load(improver).ok
        spec = {"__proxy__": "utility", "str": "u", "budget": 3}
        lm = {"__proxy__": "language_model", "budget": 1, "max_responses_per_call": 1}
        res = worker.call("improve_algorithm", ["s", spec, lm], handler=handler)
    assert res.verdict is Verdict.OK, res.error
    scores, forged = ast.literal_eval(res.value)
    assert scores == [0.5] * 3 + [0.0] * 5
    assert forged == ["RemoteError"] * 3


def test_host_signals_and_sessions_survive(executor) -> None:
    """After every attack above the host process is alive and was never signalled."""
    assert os.getpid() > 0
    _pool_still_works(executor)


ORPHAN = (
    "import os, time\n"
    "def attack(ctx):\n"
    "    r, w = os.pipe()\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    "            os.write(w, str(os.getpid()).encode())\n"
    "            time.sleep(3600)\n"
    "        os._exit(0)\n"
    "    return int(os.read(r, 32))\n")


def test_setsid_orphan_is_refused_or_killed(executor, tier) -> None:
    """A double-forked, setsid'd orphan: refused (seccomp) at A/B; at C the cgroup sweep kills it."""
    with executor.spawn(Limits(wall_seconds=10)) as worker:
        assert worker.load(ORPHAN).ok
        res = worker.call("attack", [{}])
    if tier in "AB":
        assert res.verdict is Verdict.VIOLATION, res.error
        return
    if not executor.choice.cgroup:
        pytest.skip("tier C without a writable cgroup cannot reach re-parented orphans")
    assert res.verdict is Verdict.OK and isinstance(res.value, int)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(res.value) and psutil.Process(res.value).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"orphan {res.value} survived the worker"
        time.sleep(0.05)


def test_cgroup_kills_what_rlimits_miss(executor, tier) -> None:
    """With no address-space rlimit, the memory cgroup's OOM killer stops the program: verdict oom."""
    from selftaught.sandbox.warm import WarmWorker, Zygote, ZygoteSpec

    if "memory" not in executor.choice.cgroup:
        pytest.skip("no writable memory cgroup on this machine")
    base = executor.choice.spec
    spec = ZygoteSpec(base.launch, base.seccomp, extra_rlimits={**base.extra_rlimits, "RLIMIT_AS": -1})
    zygote = Zygote(spec)
    try:
        with WarmWorker(zygote, Limits(wall_seconds=20, memory_mb=128), lambda z: None) as worker:
            assert worker.load("def attack():\n    hog = []\n    while True:\n"
                               "        hog.append(bytearray(1 << 24))\n").ok
            res = worker.call("attack", [])
    finally:
        zygote.destroy()
    assert res.verdict is Verdict.OOM, f"{res.verdict}: {res.error}"
