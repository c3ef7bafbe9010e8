"""A model server that misbehaves mid-run: one line naming the server, exit 4, status ``stopped`` with
the reason, nothing bad cached, and ``--resume`` (once the server behaves) ends exactly where an
uninterrupted run ends. Replies are SCRIPTED by the fault server; CLI, sandbox and store are real."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.faults.harness import cli, iteration_lines, meta, only_run, resume_args, run_args, snapshot
from tests.faults.server import MODES, FaultServer

pytestmark = pytest.mark.integration
ITERATIONS = 1  # enough for a fault in the middle of a self-improvement step


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer(slow_seconds=2.5)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def reference(server: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[str]]:
    runs = tmp_path_factory.mktemp("reference")
    server.behave()
    proc = cli(*run_args(server.base_url, runs, ITERATIONS))
    assert proc.returncode == 0, proc.stderr
    return snapshot(only_run(runs)), iteration_lines(proc.stdout)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("mode", MODES)
def test_a_misbehaving_server_stops_the_run_resumably(mode, server, reference, tmp_path):
    runs = tmp_path / "runs"
    server.misbehave(mode, after=7)  # mid-way through iteration 1
    started = time.monotonic()
    proc = cli(*run_args(server.base_url, runs, ITERATIONS))
    took = time.monotonic() - started
    line = _one_line(proc.stderr)
    assert proc.returncode == 4, proc.stderr
    assert line.startswith("stopped: ") and server.base_url in line and "--resume" in line
    run_dir = only_run(runs)
    assert meta(run_dir, "status") == "stopped"
    assert server.base_url in meta(run_dir, "stop_reason")
    stored = snapshot(run_dir)["completions"]
    assert stored and all(c["text"] and c["finish_reason"] == "stop" for c in stored)  # no bad reply cached
    assert len(stored) <= 7
    # no hang past the timeouts (a trickled reply ends at model.timeout in all), nothing huge kept
    assert mode != "trickle" or took < 60, took
    assert sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file()) < 5 << 20

    server.behave()
    resumed = cli(*resume_args(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert meta(run_dir, "status") == "finished"
    want_store, want_table = reference
    assert snapshot(run_dir) == want_store
    assert iteration_lines(resumed.stdout) == want_table


def test_a_server_that_goes_away_stops_the_run_and_another_url_resumes_it(server, reference, tmp_path):
    runs = tmp_path / "runs"
    doomed = FaultServer()
    doomed.misbehave("500", after=5)
    proc = cli(*run_args(doomed.base_url, runs, ITERATIONS))
    assert proc.returncode == 4
    doomed.close()  # now refused: the resume's check says so in one line, and changes nothing
    run_dir = only_run(runs)
    refused = cli(*resume_args(run_dir))
    assert refused.returncode == 2 and "cannot reach the model server" in _one_line(refused.stderr)
    server.behave()
    resumed = cli(*resume_args(run_dir, server.base_url))
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(run_dir) == reference[0]


def test_a_server_that_fails_from_the_start_leaves_nothing(tmp_path):
    srv = FaultServer()
    srv.misbehave("nochoices")
    try:
        proc = cli(*run_args(srv.base_url, tmp_path / "runs", ITERATIONS))
    finally:
        srv.close()
    # /models answers, so the run starts; the first request fails, and the run is stopped, not lost.
    assert proc.returncode == 4 and "no choices" in _one_line(proc.stderr)
    assert meta(only_run(tmp_path / "runs"), "status") == "stopped"
