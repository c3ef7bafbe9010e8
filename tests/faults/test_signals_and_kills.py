"""SIGINT / SIGTERM at several points: exit 130 / 143, status ``interrupted``, no process left behind, and
``--resume`` ends where an uninterrupted run ends. kill -9 at many points: every resumed run's store and
printed table are identical to the uninterrupted run's (timings aside). Replies are SCRIPTED by the fault
server; CLI, sandbox and store are real."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tests.faults.harness import cli, iteration_lines, meta, progress, resume_args, run_args, snapshot
from tests.faults.server import FaultServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer(delay=0.15)  # a slower model, so that signals land mid-run
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def reference(server: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[str], int]:
    runs = tmp_path_factory.mktemp("reference")
    proc = cli(*run_args(server.base_url, runs))
    assert proc.returncode == 0, proc.stderr
    run_dir = next(runs.iterdir())
    return snapshot(run_dir), iteration_lines(proc.stdout), progress(run_dir)


def _start_and_wait(server: FaultServer, runs: Path, rows: int) -> tuple[subprocess.Popen, Path]:
    """Start a run in a child process; return once it has committed ``rows`` rows."""
    child = subprocess.Popen([sys.executable, "-m", "selftaught.cli.main", *run_args(server.base_url, runs)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        dirs = list(runs.iterdir()) if runs.exists() else []
        if dirs and progress(dirs[0]) >= rows:
            return child, dirs[0]
        time.sleep(0.02)
    child.kill()
    pytest.fail(f"the run ended (or stalled) before it committed {rows} rows: {child.communicate()[1][-2000:]}")


def _resume_matches(run_dir: Path, reference: tuple[dict, list[str], int]) -> None:
    resumed = cli(*resume_args(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert meta(run_dir, "status") == "finished"
    assert snapshot(run_dir) == reference[0]
    assert iteration_lines(resumed.stdout) == reference[1]


@pytest.mark.parametrize(("sig", "fraction"), [(signal.SIGINT, 0.15), (signal.SIGTERM, 0.5),
                                               (signal.SIGINT, 0.85)])
def test_a_signal_stops_the_run_cleanly_and_resume_finishes_it(sig, fraction, server, reference, tmp_path):
    runs = tmp_path / "runs"
    child, run_dir = _start_and_wait(server, runs, max(1, int(reference[2] * fraction)))
    family = psutil.Process(child.pid).children(recursive=True)
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + sig, err
    assert f"interrupted ({signal.Signals(sig).name})" in err and "Traceback" not in err
    assert meta(run_dir, "status") == "interrupted"
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive  # nothing left behind
    _resume_matches(run_dir, reference)


#: Ten kill points in CI; FAULTS_KILL_POINTS=N draws N random ones instead (seed FAULTS_KILL_SEED, default 0).
KILL_POINTS = [0.03, 0.12, 0.21, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
if os.environ.get("FAULTS_KILL_POINTS"):
    _rng = random.Random(int(os.environ.get("FAULTS_KILL_SEED", "0")))
    KILL_POINTS = sorted(round(_rng.uniform(0.01, 0.97), 3) for _ in range(int(os.environ["FAULTS_KILL_POINTS"])))


@pytest.mark.parametrize("fraction", KILL_POINTS)
def test_kill_9_anywhere_then_resume_gives_the_uninterrupted_store_and_table(fraction, server, reference,
                                                                           tmp_path):
    runs = tmp_path / "runs"
    child, run_dir = _start_and_wait(server, runs, max(1, int(reference[2] * fraction)))
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    _resume_matches(run_dir, reference)


def _start_trickling(runs: Path, *extra: str) -> tuple[FaultServer, subprocess.Popen]:
    """A run whose server trickles every reply after the third (each read quick, the whole 60 s+), with
    ``model.timeout`` long enough that the run is mid-request when the signal comes."""
    srv = FaultServer(trickle_seconds=0.5)
    srv.misbehave("trickle", after=3)
    child = subprocess.Popen([sys.executable, "-m", "selftaught.cli.main", *run_args(srv.base_url, runs, 1),
                              "--set", "model.timeout=120", *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while srv.faults == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.faults, child.communicate()[1][-2000:]
    time.sleep(1)  # the request is now being trickled
    return srv, child


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_a_run_waiting_on_a_trickling_server_at_once(sig, tmp_path):
    runs = tmp_path / "runs"
    srv, child = _start_trickling(runs)
    try:
        sent = time.monotonic()
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        child.kill()
        srv.close()
    assert child.returncode == 128 + sig, err
    assert waited < 15, waited  # not the trickle's minutes, nor model.timeout's 120 s
    run_dir = next(runs.iterdir())
    assert meta(run_dir, "status") == "interrupted" and "Traceback" not in err


def test_a_second_signal_leaves_at_once_with_an_honest_status(tmp_path):
    runs = tmp_path / "runs"
    srv, child = _start_trickling(runs)
    try:
        child.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # two signals at once are one to Python
        child.send_signal(signal.SIGTERM)  # a no-op if the first already ended the run
        child.communicate(timeout=60)
    finally:
        child.kill()
        srv.close()
    assert child.returncode == 143
    assert meta(next(runs.iterdir()), "status") == "interrupted"  # never 'running' after a stop


def test_watch_ends_on_a_run_killed_with_9_and_its_page_says_so(server, tmp_path):
    runs = tmp_path / "runs"
    child, run_dir = _start_and_wait(server, runs, 3)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert meta(run_dir, "status") == "running"  # nobody could record the stop
    watched = cli("report", "--watch", "--interval", "0.2", "--no-analyze", str(run_dir), timeout=120)
    assert watched.returncode == 0, watched.stderr
    page = (run_dir / "report.html").read_text()
    assert "kill -9" in page and 'http-equiv="refresh"' not in page
    shown = cli("show", "--no-analyze", str(run_dir))
    said = " ".join(shown.stdout.split())  # the console wraps long lines
    assert "kill -9" in said and "resume with: selftaught run --resume" in said
    resumed = cli(*resume_args(run_dir))  # and it resumes like any interrupted run
    assert resumed.returncode == 0 and meta(run_dir, "status") == "finished", resumed.stderr


def test_watch_serves_the_final_page_after_the_run_ends(server, reference, tmp_path):
    import urllib.request

    runs = tmp_path / "runs"
    done = cli(*run_args(server.base_url, runs, 0))
    assert done.returncode == 0, done.stderr
    run_dir = next(runs.iterdir())
    child = subprocess.Popen([sys.executable, "-m", "selftaught.cli.main", "report", "--watch", "--port", "0",
                              "--interval", "0.2", "--no-analyze", str(run_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url, ended = None, False
        assert child.stdout is not None
        for line in child.stdout:
            url = url or next((w for w in line.split() if w.startswith("http://127.0.0.1")), None)
            if "the run has ended" in line:
                ended = True
                break
        assert url and ended, child.communicate()[1]
        time.sleep(2)  # a tab that reloads a little later
        with urllib.request.urlopen(url, timeout=10) as reply:
            page = reply.read().decode()
        assert "(finished," in page and 'http-equiv="refresh"' not in page
    finally:
        child.kill()
        child.communicate()
