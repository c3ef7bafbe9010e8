"""Fault handling in the library: a failed reply is never cached and stops the run resumably; a run's
defining records are committed first; truncation is stored and warned about; bad files are refused.
Model replies are SCRIPTED (a registered provider); sandbox and store are real."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX, scripted_config

from selftaught.engine.fit import fit_warnings
from selftaught.engine.runner import resume_run, start_run
from selftaught.errors import ConfigError, ModelError, RunStoreError
from selftaught.improvers import improver_source
from selftaught.models.base import ChatRequest, Completion
from selftaught.models.recorder import Recorder
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore
from selftaught.store.sqlite import _SCHEMA, DB_NAME
from selftaught.tasks.registry import load_task


class FailingAfter(ScriptedModel):
    """SCRIPTED replies; from the ``n``-th request on, the server 'fails past its retries'."""

    def __init__(self, n: int) -> None:
        super().__init__(replies=[FIXED_MAX])
        self.n = n
        self.lock = threading.Lock()

    def complete(self, request: ChatRequest) -> Completion:
        with self.lock:
            self.n -= 1
            failing = self.n < 0
        if failing:
            raise ModelError("the model server at http://test kept failing (500: overloaded)")
        return Completion(FIXED_MAX, 3, 5, 0.0, "length" if "improve_algorithm" in request.user else "stop")


def _request(user: str = "hi") -> ChatRequest:
    return ChatRequest(model="m", system="", user=user, temperature=0.0, max_tokens=8)


def test_a_failed_request_is_not_cached_and_later_ones_fail_fast(tmp_path: Path) -> None:
    store = RunStore(tmp_path, create=True)
    model = FailingAfter(1)
    recorder = Recorder(model, store)
    assert recorder.complete_batch("s", [_request()])[0].text == FIXED_MAX
    with pytest.raises(ModelError, match="kept failing"):
        recorder.complete_batch("s", [_request()])
    with pytest.raises(ModelError, match="kept failing"):  # not sent again: the first fault is repeated
        recorder.complete_batch("s", [_request("other")])
    assert model.n == -1  # exactly one failing request reached the provider
    assert [c.text for c in store.completions()] == [FIXED_MAX]
    assert store.completions()[0].finish_reason == "stop"


def test_a_model_fault_stops_the_sandbox_flag_experiment_and_is_recorded(tmp_path: Path) -> None:
    from selftaught.experiments.sandbox_flag import run_sandbox_flag

    with pytest.raises(ModelError, match="kept failing"):
        run_sandbox_flag(scripted_config(), 2, run_dir=tmp_path / "x", provider=FailingAfter(0))
    store = RunStore(tmp_path / "x")
    assert store.get_meta("status") == "stopped" and "kept failing" in store.get_meta("stop_reason")
    store.close()
    shown = subprocess.run([sys.executable, "-m", "selftaught.cli.main", "show", "--no-analyze",
                            str(tmp_path / "x")], capture_output=True, text=True, check=False,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert f"resume with: selftaught experiment sandbox-flag --out {tmp_path / 'x'}" in shown.stdout
    assert "run --resume" not in shown.stdout  # an experiment is extended, not resumed as a run


def test_a_model_fault_stops_the_run_and_resume_finishes_it_like_an_uninterrupted_run(tmp_path: Path) -> None:
    config = scripted_config(iterations=1)
    reference = start_run(config, provider=FailingAfter(10**6), run_dir=tmp_path / "reference")
    with pytest.raises(ModelError, match=r"stopped.*--resume"):
        start_run(config, provider=FailingAfter(5), run_dir=tmp_path / "run")
    store = RunStore(tmp_path / "run")
    assert store.get_meta("status") == "stopped" and "kept failing" in store.get_meta("stop_reason")
    assert len(store.completions()) == 5
    resumed = resume_run(tmp_path / "run", provider=FailingAfter(10**6))
    assert RunStore(tmp_path / "run").get_meta("status") == "finished"
    assert RunStore(tmp_path / "run").get_meta("stop_reason") is None  # as in an uninterrupted run

    def rows(its):  # every column but the duration
        return [(i.iteration, i.improver_hash, i.candidate_hash, i.adopted, i.val, i.test, i.verdict,
                 i.model_calls) for i in its]

    assert rows(resumed.iterations) == rows(reference.iterations)
    lengths = {c.role: c.finish_reason for c in RunStore(tmp_path / "run").completions()}
    assert lengths == {"meta": "length", "improver": "stop"}


def test_a_store_of_an_older_version_gains_finish_reason(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # what v0.1 created: no finish_reason column
        db.executescript(_SCHEMA)
    assert RunStore(tmp_path).made_by == "0.1"  # read as it is: v0.1 could still open it
    store = RunStore(tmp_path, upgrade=True)
    recorder = Recorder(ScriptedModel(replies=["x"]), store)
    recorder.complete_batch("s", [_request()])
    assert [c.finish_reason for c in RunStore(tmp_path).completions()] == ["stop"]


def test_a_run_that_cannot_be_created_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        start_run(scripted_config(runs_dir=str(blocker / "runs")), provider=ScriptedModel(replies=["x"]))
    with pytest.raises(RunStoreError, match="cannot create the run directory"):
        start_run(scripted_config(), provider=ScriptedModel(replies=["x"]), run_dir=blocker / "run")


def test_the_defining_records_are_written_together(tmp_path: Path) -> None:
    store = RunStore(tmp_path, create=True)
    store.begin_run({"config": {"a": 1}, "start_improver": {"source": "s"}, "status": "running"})
    assert RunStore(tmp_path).get_meta("start_improver") == {"source": "s"}


@pytest.mark.parametrize(("content", "needle"), [
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"def improve_algorithm(a, b, c):\n    return (\n", r"not valid Python \(line 2"),
    (b"", "defines no improve_algorithm"),
])
def test_a_broken_improver_file_is_refused_up_front(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "improver.py"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=needle):
        improver_source(str(path))


def test_max_tokens_too_small_for_the_program_to_rewrite_is_warned_about() -> None:
    task = load_task("max_list")
    compact = improver_source("compact")[0]
    assert fit_warnings(2048, 2048, compact, [task]) == []
    (warning,) = fit_warnings(256, 256, compact, [task])  # the quick start's old setting
    assert "cannot fit a rewrite of the improver" in warning and "model.max_tokens >=" in warning


def test_the_fit_check_asks_the_role_that_rewrites_each_program() -> None:
    from selftaught.config import load_config
    from selftaught.engine.fit import role_fit_warnings

    task = load_task("max_list")
    compact = improver_source("compact")[0]
    # [model.meta] rewrites improvers: its own max_tokens decides, whatever [model]'s is.
    roomy_meta = load_config(None, sets=["model.max_tokens=128", "model.meta.max_tokens=2048"]).model
    assert role_fit_warnings(roomy_meta, compact, [task]) == []
    (warning,) = role_fit_warnings(load_config(None, sets=["model.meta.max_tokens=64"]).model, compact, [task])
    assert "model.meta.max_tokens = 64" in warning and "the improver" in warning
    quickstart = load_config(Path(__file__).parents[2] / "examples" / "quickstart.toml")
    assert role_fit_warnings(quickstart.model, improver_source(quickstart.improver)[0],
                             [load_task(quickstart.task)]) == []


def test_a_typo_in_a_flag_is_blamed_on_the_flag_and_one_in_the_file_on_the_file(tmp_path: Path) -> None:
    from selftaught.config import load_config

    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('task = "max_list"\n')
    bad.write_text("iteratons = 2\n")
    with pytest.raises(ConfigError, match=r"^--set/flags: unknown key 'budget.utlity_calls'"):
        load_config(good, sets=["budget.utlity_calls=3"])
    with pytest.raises(ConfigError, match=rf"^{bad}: unknown key 'iteratons'"):
        load_config(bad, sets=["budget.utility_calls=3"])


def test_a_task_file_names_its_run_directory_by_its_stem(tmp_path: Path) -> None:
    from selftaught.engine.runner import new_run_dir

    name = new_run_dir(scripted_config(task=str(tmp_path / "tasks" / "my_task.py"), runs_dir=str(tmp_path))).name
    assert name.endswith("-my_task")


@pytest.mark.parametrize("mode", ["429", "500", "badjson", "nochoices", "nofinish", "cut", "badcontent", "notjson"])
def test_every_bad_reply_is_a_model_error_naming_the_server(mode: str) -> None:
    from tests.faults.server import FaultServer

    from selftaught.models.openai_compat import OpenAICompatModel

    server = FaultServer()
    server.misbehave(mode)
    model = OpenAICompatModel(model="fault", base_url=server.base_url, max_retries=1, retry_base=0.01)
    try:
        with pytest.raises(ModelError, match=server.base_url.replace(".", r"\.")) as info:
            model.complete(_request())
    finally:
        model.close()
        server.close()
    assert "\n" not in str(info.value) and "2 attempts" in str(info.value)
    assert server.faults == 2  # retried once, then given up


@pytest.mark.parametrize(("content", "needle"), [(b"\xff\xfeclass", "is not UTF-8 text"),
                                                 (b"x = 1\x00\n", "task file")])
def test_a_binary_task_file_is_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    from selftaught.errors import TaskError

    path = tmp_path / "task.py"
    path.write_bytes(content)
    with pytest.raises(TaskError, match=needle) as info:
        load_task(str(path))
    assert "None" not in str(info.value) and "\n" not in str(info.value)


def test_a_trickled_reply_ends_at_the_timeout_in_all_not_per_read() -> None:
    """A byte every 0.2 s never trips a per-read timeout of 1 s; the whole request must still end by it."""
    import time

    from tests.faults.server import FaultServer

    from selftaught.models.openai_compat import OpenAICompatModel

    server = FaultServer(trickle_seconds=0.2)
    server.misbehave("trickle")
    model = OpenAICompatModel(model="fault", base_url=server.base_url, timeout=1.0, max_retries=1, retry_base=0.01)
    started = time.monotonic()
    try:
        with pytest.raises(ModelError, match="did not answer within 1 s") as info:
            model.complete(_request())
    finally:
        model.close()
        server.close()
    assert time.monotonic() - started < 4  # 2 attempts of 1 s each, not the ~60 s the trickle takes
    assert "\n" not in str(info.value) and server.faults == 2


def test_a_huge_reply_is_refused_unread_and_not_retried(tmp_path: Path) -> None:
    """A reply far larger than max_tokens can explain stops at the cap: a model error, nothing cached."""
    from tests.faults.server import FaultServer

    from selftaught.models.openai_compat import REPLY_BYTES_BASE, REPLY_BYTES_PER_TOKEN, OpenAICompatModel

    server = FaultServer(huge_bytes=50 << 20)
    server.misbehave("huge")
    store = RunStore(tmp_path, create=True)
    model = OpenAICompatModel(model="fault", base_url=server.base_url, max_retries=3, retry_base=0.01)
    try:
        with pytest.raises(ModelError, match="sent a reply of more than") as info:
            Recorder(model, store).complete_batch("s", [_request()])
    finally:
        model.close()
        server.close()
    assert "\n" not in str(info.value) and server.faults == 1  # not retried
    assert store.completions() == []
    assert f"{REPLY_BYTES_BASE + REPLY_BYTES_PER_TOKEN * 8:,} bytes" in str(info.value)
    store.close()


def test_a_second_signal_records_the_stop_before_it_leaves(tmp_path: Path) -> None:
    """The second signal ends the process at once, wherever the main thread is; what the run registered
    (its status) is written first, on a connection of its own, so the store never says 'running'."""
    store = RunStore(tmp_path, create=True)
    store.set_meta("status", "running")
    store.close()
    code = ("import os, signal, time\nfrom functools import partial\nfrom selftaught import signals\n"
            "from selftaught.store.sqlite import stamp_stop\nsignals.install()\n"
            f"with signals.last_words(partial(stamp_stop, {str(tmp_path)!r}, 'interrupted', 'second signal')):\n"
            "    try:\n        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
            "    except KeyboardInterrupt:\n        pass\n"
            "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 143, done.stderr
    store = RunStore(tmp_path)
    assert store.get_meta("status") == "interrupted" and store.get_meta("stop_reason") == "second signal"
    store.close()
