"""The warm pool under concurrency: many spawn/load/call/close cycles from short-lived threads.

Regression test for "the sandbox itself died while running the program" on programs that did nothing
wrong: zygotes started from a thread that later exited were killed with it (bubblewrap's
``--die-with-parent`` is a ``PR_SET_PDEATHSIG``, which fires when the *thread* that forked the sandbox
ends), so a pooled zygote could die under the next program, typically the first one loaded after a
``ThreadPoolExecutor`` (the meta-utility's) shut down.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.local import LocalExecutor
from selftaught.sandbox.slots import SlottedExecutor
from selftaught.sandbox.warm import Zygote

PROGRAM = "import numpy\nBASE = 1\ndef f(x):\n    return x + BASE\n"


def _cycle(ex, i: int) -> tuple[str, str]:
    with ex.spawn(Limits(wall_seconds=20)) as w:
        loaded = w.load(PROGRAM)
        if not loaded.ok:
            return "load", f"{loaded.verdict}: {loaded.error}"
        res = w.call("f", [i])
        if res.verdict is not Verdict.OK or res.value != i + 1:
            return "call", f"{res.verdict}: {res.error} ({res.value!r})"
    return "ok", ""


def test_many_cycles_from_short_lived_threads_all_succeed() -> None:
    """200 cycles from 4 threads, in rounds of fresh thread pools (as the meta-utility does), each round
    followed by a load from the main thread (as the next iteration's improver load is)."""
    local = LocalExecutor(pool_size=4)
    ex = SlottedExecutor(local, cpus=2)
    failures: list[tuple[int, str, str]] = []
    started = time.monotonic()
    try:
        n = 0
        for _round in range(10):
            with ThreadPoolExecutor(max_workers=4, thread_name_prefix="stress") as pool:
                outcomes = list(pool.map(lambda i: _cycle(ex, i), range(n, n + 20)))
            failures += [(n + k, *o) for k, o in enumerate(outcomes) if o[0] != "ok"]
            n += 20
            stage, err = _cycle(ex, n)  # right after the pool's threads are gone
            if stage != "ok":
                failures.append((n, stage, err))
    finally:
        ex.close()
    assert not failures, failures
    assert time.monotonic() - started < 120


def test_zygote_outlives_the_thread_that_started_it() -> None:
    local = LocalExecutor(pool_size=4)
    try:
        box: dict[str, Zygote] = {}
        thread = threading.Thread(target=lambda: box.setdefault("z", Zygote(local.choice.spec)))
        thread.start()
        thread.join()
        zygote = box["z"]
        time.sleep(0.3)  # the thread's exit (and, before the fix, the sandbox's death) is asynchronous
        try:
            assert zygote.healthy
            assert zygote.ask({"op": "ping"})[0] == {"op": "pong"}
        finally:
            zygote.destroy()
    finally:
        local.close()


def test_load_is_retried_once_when_the_sandbox_itself_is_lost() -> None:
    """The zygote is killed from outside while the program's top level runs: not the program's fault,
    so the load runs again in a fresh zygote instead of recording a crash."""
    from selftaught.sandbox.cold import kill_tree

    local = LocalExecutor(pool_size=4)
    try:
        with local.spawn(Limits(wall_seconds=20)) as w:
            doomed = w.zygote
            threading.Timer(0.3, kill_tree, [doomed.proc.pid]).start()
            res = w.load("import time\ntime.sleep(1.0)\ndef f():\n    return 7\n")
            assert res.ok, f"{res.verdict}: {res.error}"
            assert w.retried and w.zygote is not doomed
            assert w.call("f", []).value == 7
        assert not doomed.healthy
    finally:
        local.close()


def test_a_program_that_dies_on_its_own_is_not_retried() -> None:
    local = LocalExecutor(pool_size=4)
    try:
        with local.spawn(Limits(wall_seconds=20)) as w:
            res = w.load("import os\nos._exit(3)\n")
            assert res.verdict is Verdict.CRASH and "status 3" in (res.error or "")
            assert not w.retried
    finally:
        local.close()
