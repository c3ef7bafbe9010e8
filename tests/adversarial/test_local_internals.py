"""Checks of the local executor that need its internals (zygotes, cgroups, the zygote's log), beyond
what the executor-agnostic conformance cases can see."""

from __future__ import annotations

import time

import psutil
import pytest

from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.conformance.cases.processes import ORPHAN
from selftaught.sandbox.local import LocalExecutor

pytestmark = pytest.mark.adversarial


def test_setsid_orphan_is_refused_or_killed(local: LocalExecutor) -> None:
    """A double-forked, setsid'd orphan: refused (seccomp) at A/B; at C the cgroup sweep kills it."""
    with local.spawn(Limits(wall_seconds=10)) as worker:
        assert worker.load(ORPHAN).ok
        res = worker.call("attack", [{}])
    if local.choice.letter in "AB":
        assert res.verdict is Verdict.VIOLATION, res.error
        return
    if not local.choice.cgroup:
        pytest.skip("tier C without a writable cgroup cannot reach re-parented orphans")
    assert res.verdict is Verdict.OK and isinstance(res.value, int)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(res.value) and psutil.Process(res.value).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"orphan {res.value} survived the worker"
        time.sleep(0.05)


def test_cgroup_kills_what_rlimits_miss(local: LocalExecutor) -> None:
    """With no address-space rlimit, the memory cgroup's OOM killer stops the program: verdict oom."""
    from selftaught.sandbox.warm import WarmWorker, Zygote, ZygoteSpec

    if "memory" not in local.choice.cgroup:
        pytest.skip("no writable memory cgroup on this machine")
    base = local.choice.spec
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


def test_program_cannot_write_into_the_zygote_log(local: LocalExecutor) -> None:
    """The zygote's stderr is a host file (a bounded log); its program reaches it only through
    ``/proc/<zygote>/fd/2``, which must be refused where the sandbox isolates (A/B)."""
    if local.choice.letter not in "AB":
        pytest.skip("needs tier A or B")
    program = ("import os\ndef attack():\n    for pid in {1, os.getppid()}:\n        try:\n"
               "            fd = os.open(f'/proc/{pid}/fd/2', os.O_WRONLY | os.O_APPEND)\n"
               "            os.write(fd, b'PWNED-LOG\\n')\n        except OSError:\n            pass\n")
    with local.spawn(Limits(wall_seconds=10)) as worker:
        assert worker.load(program).ok
        worker.call("attack", [])
        said = worker.zygote.said()
    assert "PWNED-LOG" not in said
