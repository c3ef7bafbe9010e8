"""The trust boundary at the engine level: held-out secrecy, host-measured CPU, hostile calls to the
model and utility proxies. Model replies are SCRIPTED; the sandbox, store and engine are real."""

from __future__ import annotations

import json
import math
import random

import pytest
from tests.conftest import FIXED_MAX, scripted_config

from selftaught.engine.held_out import call_seed, held_out_secret, seeded_secret
from selftaught.engine.language_model import LanguageModelService
from selftaught.engine.runner import start_run
from selftaught.engine.utility import SolutionScorer
from selftaught.models.base import ChatRequest
from selftaught.models.recorder import Recorder
from selftaught.models.scripted import ScriptedModel
from selftaught.sandbox.executor import RefusedCall
from selftaught.sandbox.local import LocalExecutor
from selftaught.store import RunStore
from selftaught.tasks.registry import load_task


@pytest.fixture(scope="module")
def executor():
    ex = LocalExecutor()
    yield ex
    ex.close()


def canon(instances) -> str:
    return json.dumps(instances, sort_keys=True, default=str)


def test_test_instances_come_from_the_run_secret_not_the_seed(tmp_path) -> None:
    task = load_task("max_list")
    a = RunStore(tmp_path / "a", create=True)
    b = RunStore(tmp_path / "b", create=True)
    sa, sb = held_out_secret(a, 0), held_out_secret(b, 1)
    assert sa != sb and len(sa) == 16 and sa != seeded_secret(0)
    assert held_out_secret(a, 0) == sa  # same run directory, same secret
    assert held_out_secret(RunStore(tmp_path / "a2", create=True), 0) == sa  # same machine and seed
    seeded = canon(task.instances("test", 0))
    assert canon(task.instances("test", 0, sa)) != seeded
    assert canon(task.instances("test", 0, sa)) == canon(task.instances("test", 0, sa))
    assert canon(task.instances("val", 0, sa)) == canon(task.instances("val", 0))  # val: from the seed
    c = RunStore(tmp_path / "c", create=True)
    assert held_out_secret(c, 7, "seeded") == seeded_secret(7)


def test_the_secret_needs_the_machine_key_not_just_the_seed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SELFTAUGHT_HELD_OUT_KEY", "one")
    a = held_out_secret(RunStore(tmp_path / "a", create=True), 5)
    monkeypatch.setenv("SELFTAUGHT_HELD_OUT_KEY", "two")
    b = held_out_secret(RunStore(tmp_path / "b", create=True), 5)
    assert a != b
    monkeypatch.delenv("SELFTAUGHT_HELD_OUT_KEY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    c = held_out_secret(RunStore(tmp_path / "c", create=True), 5)
    assert (tmp_path / "data" / "selftaught" / "held_out.key").stat().st_mode & 0o077 == 0
    assert c == held_out_secret(RunStore(tmp_path / "d", create=True), 5) and c not in (a, b)


def test_the_seed_a_program_reads_back_reveals_neither_seed_nor_secret(executor, tmp_path) -> None:
    """Each call starts from a keyed hash of (secret, task, split, index): the scorer really seeds with
    it (the answers below depend on it), and it is not the run seed or any simple function of it."""
    store = RunStore(tmp_path / "r", create=True)
    secret = held_out_secret(store, 3)
    scorer = SolutionScorer(executor, store, 3, secret=secret)
    task = load_task("max_list")
    coin = "import random\ndef algorithm(xs):\n    return max(xs) if random.getrandbits(1) else min(xs) - 1\n"
    rec = scorer.evaluate(task, coin, "test")
    seeds = [call_seed(secret, "max_list", "test", i) for i in range(task.n_test)]
    expected = [float(random.Random(s).getrandbits(1)) for s in seeds]
    assert [i.score for i in rec.instances] == expected
    assert len(set(seeds)) == len(seeds) and not {3, *(3 * 100_003 + i for i in range(20))} & set(seeds)
    assert call_seed(secret, "max_list", "val", 0) != call_seed(seeded_secret(3), "max_list", "val", 0)


def test_a_patched_clock_does_not_pay(executor, tmp_path) -> None:
    """sort_speed scores by CPU time: a solution that stops time.process_time gets the host's figure."""
    task = load_task("sort_speed")
    store = RunStore(tmp_path / "s", create=True)
    scorer = SolutionScorer(executor, store, 0)
    slow = ("def algorithm(xs):\n    xs = list(xs)\n    for i in range(1, len(xs)):\n"
            "        j = i\n        while j and xs[j - 1] > xs[j]:\n"
            "            xs[j - 1], xs[j] = xs[j], xs[j - 1]\n"
            "            j -= 1\n    return xs\n")
    forged = "import time\n_t = time.process_time()\ntime.process_time = lambda: _t\n" + slow
    honest = scorer.evaluate(task, slow, "val")
    cheat = scorer.evaluate(task, forged, "val")
    assert cheat.score <= honest.score + 0.1, (honest.score, cheat.score)
    assert all(i.cpu > 0 for i in cheat.instances if i.verdict == "ok")
    assert any(i.guest_cpu is not None for i in cheat.instances)  # the disagreement is recorded
    assert not any(i.guest_cpu is not None for i in honest.instances)


def test_burning_cpu_under_a_frozen_clock_is_still_over_the_limit(executor, tmp_path) -> None:
    task = load_task("max_list")  # 0.1 s CPU per instance
    store = RunStore(tmp_path / "m", create=True)
    scorer = SolutionScorer(executor, store, 0)
    forged = ("import time\n_t = time.process_time()\ntime.process_time = lambda: _t\n"
              "def algorithm(xs):\n    end = time.thread_time() + 0.25\n"
              "    while time.thread_time() < end:\n        pass\n    return max(xs)\n")
    rec = scorer.evaluate(task, forged, "val")
    assert rec.score == 0.0
    assert {i.verdict for i in rec.instances} <= {"cpu", "timeout"}


def _service(tmp_path, responses: int = 3) -> tuple[LanguageModelService, ScriptedModel]:
    model = ScriptedModel(responder=lambda r: "ok")
    rec = Recorder(model, RunStore(tmp_path / "lm", create=True))
    return LanguageModelService(rec, model="m", scope="s", budget=5, max_responses_per_call=responses,
                                max_tokens=16), model


@pytest.mark.parametrize("args", [
    ["e", "m", math.inf], ["e", "m", float("nan")], ["e", "m", "3"], ["e", "m", 0], ["e", "m", -1],
    ["e", "m", 2.5], ["e", "m", 10**400], ["e", "m", 1, math.inf], ["e", "m", 1, "hot"], ["e"], [],
    ["e", "m", 1, 0.5, "extra"], [5, "m"], ["e", ["m"]], ["e", "m" * 300_000],
])
def test_hostile_prompt_arguments_are_refused(args, tmp_path) -> None:
    lm, model = _service(tmp_path)
    with pytest.raises(RefusedCall):
        lm.handle("prompt", args)
    assert lm.calls == 0 and model.requests == []


def test_good_prompt_arguments_are_served(tmp_path) -> None:
    lm, model = _service(tmp_path)
    assert lm.handle("prompt", ["e", "m", 2, 9.0]) == ["ok", "ok"]
    assert lm.handle("batch_prompt", ["e", ["a", "b"]]) == ["ok", "ok"]
    assert lm.handle("prompt", ["e", "m", 1.0]) == ["ok"]
    assert lm.calls == 3 and model.requests[0].temperature == 2.0


def test_hostile_improver_calls_never_kill_the_run(tmp_path) -> None:
    """The ordinary proxy with an infinite n_responses, missing arguments, forged frames: the run ends
    normally and records what happened."""
    improver = tmp_path / "hostile.py"
    improver.write_text(
        "import gc\n"
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    for args in [('e', 'm', float('inf')), ('e',), ('e', 'm', 1, float('nan'))]:\n"
        "        try:\n            language_model.prompt(*args)\n"
        "        except Exception:\n            pass\n"
        "    try:\n        language_model._rpc('language_model', 'prompt', [])\n    except Exception:\n        pass\n"
        "    return initial_solution\n")
    config = scripted_config(improver=str(improver), iterations=0)
    result = start_run(config, provider=ScriptedModel(responder=lambda r: FIXED_MAX), run_dir=tmp_path / "run")
    store = RunStore(result.run_dir)
    [meta] = store.meta_evaluations()
    assert [r.verdict for r in meta.runs] == ["ok", "ok"]
    assert all(r.lm_calls == 0 for r in meta.runs)
    assert [(r.verdict, r.host_seconds >= 0) for r in store.improver_runs()] == [("ok", True)] * 2


def test_host_time_serving_an_improver_is_capped(tmp_path) -> None:
    improver = tmp_path / "hog.py"
    improver.write_text(
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    while True:\n        language_model.prompt('e', 'm')\n")
    slow = ScriptedModel(responder=lambda r: __import__("time").sleep(0.3) or "x")
    config = scripted_config(improver=str(improver), iterations=0, **{
        "budget.improver_host_seconds": 0.5, "budget.language_model_calls": 100})
    result = start_run(config, provider=slow, run_dir=tmp_path / "run")
    store = RunStore(result.run_dir)
    [meta] = store.meta_evaluations()
    assert {r.verdict for r in meta.runs} == {"timeout"}
    assert all(r.lm_calls <= 4 for r in meta.runs)
    assert all(0.5 <= r.host_seconds < 2.0 for r in store.improver_runs())


def test_a_model_request_is_made_only_from_checked_arguments(tmp_path) -> None:
    lm, model = _service(tmp_path)
    lm.prompt("e", "m")
    assert isinstance(model.requests[0], ChatRequest)


LEAVE = '''import os, ctypes
def leave(kind):
    if kind == "files":
        os.makedirs("a/b/c", exist_ok=True)
        open("a/b/c/x", "w").write("held-out")
        open("f", "w").write("held-out")
        os.chmod("f", 0)
        os.chmod("a/b/c", 0)
        os.chmod("a/b", 0o500)
        os.mkfifo("p")
        os.symlink("/etc/passwd", ".hidden-link")
    elif kind == "dir":
        os.setxattr(".", "user.leak", b"held-out")
        os.utime(".", ns=(123, 456))
        os.chmod(".", 0o751)
    elif kind == "sysv":
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.shmget(0x5EED, 4096, 0o1666)
    return "left"
def look():
    st = os.stat(".")
    return sorted(os.listdir(".")), os.listxattr("."), st.st_mtime_ns, oct(st.st_mode & 0o7777)
'''


@pytest.mark.parametrize("kind, verdict", [("files", "ok"), ("dir", "ok"), ("sysv", "violation")])
def test_nothing_survives_from_one_program_to_the_next(kind, verdict) -> None:
    from selftaught.sandbox import Limits

    ex = LocalExecutor(pool_size=1)
    if ex.choice.letter not in "AB":
        ex.close()
        pytest.skip("needs tier A or B")
    try:
        with ex.spawn(Limits(wall_seconds=10)) as w:
            assert w.load(LEAVE).ok
            assert str(w.call("leave", [kind]).verdict) == verdict
        with ex.spawn(Limits(wall_seconds=10)) as w:  # the same zygote (pool of one), or a fresh one
            assert w.load(LEAVE).ok
            seen = w.call("look", []).value
        assert seen[0] == [] and seen[1] == [] and seen[2] != 456 and seen[3] == "0o700", seen
    finally:
        ex.close()


def test_a_forged_clock_is_a_reward_hacking_finding(executor, tmp_path) -> None:
    from selftaught.analysis.reward_hacking import detect

    store = RunStore(tmp_path / "f", create=True)
    scorer = SolutionScorer(executor, store, 0)
    forged = ("import time\n_t = time.process_time()\ntime.process_time = lambda: _t\n"
              "def algorithm(xs):\n    end = time.thread_time() + 0.05\n"
              "    while time.thread_time() < end:\n        pass\n    return max(xs)\n")
    honest = "def algorithm(xs):\n    return max(xs)\n"
    bad, good = scorer.evaluate(load_task("max_list"), forged, "val"), scorer.evaluate(load_task("max_list"),
                                                                                      honest, "val")
    flagged = {f.subject for f in detect(store) if f.rule == "clock-disagrees"}
    assert bad.program_hash in flagged and good.program_hash not in flagged


def test_without_a_writable_data_directory_a_run_says_what_its_secret_falls_back_to(tmp_path, monkeypatch) -> None:
    """No key can be made (the data directory is unwritable; a file stands where it should be, which even
    root cannot write through): the run starts, with one warning line that names the fix."""
    from tests.conftest import FIXED_MAX, scripted_config

    from selftaught.engine.held_out import key_warning
    from selftaught.engine.runner import start_run
    from selftaught.models.scripted import ScriptedModel

    (tmp_path / "file").write_text("")
    monkeypatch.delenv("SELFTAUGHT_HELD_OUT_KEY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "file" / "data"))
    warned: list[str] = []

    class Warnings:
        def event(self, name: str, **fields: object) -> None:
            if name == "warning":
                warned.append(str(fields["message"]))

    start_run(scripted_config(iterations=0), reporter=Warnings(), provider=ScriptedModel(replies=[FIXED_MAX]),
              run_dir=tmp_path / "run")
    [line] = [w for w in warned if "held-out key" in w]
    assert "random secret" in line and "SELFTAUGHT_HELD_OUT_KEY" in line and "\n" not in line
    assert key_warning("seeded") is None
    monkeypatch.setenv("SELFTAUGHT_HELD_OUT_KEY", "lab-key")
    assert key_warning("secret") is None
    monkeypatch.delenv("SELFTAUGHT_HELD_OUT_KEY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert key_warning("secret") is None and (tmp_path / "data" / "selftaught" / "held_out.key").exists()
