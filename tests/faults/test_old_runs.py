"""A run made by v0.1 (commit 706d6d9, the first release): this version refuses to resume it unless
told to (``--upgrade``), since it would continue under other rules and migrate the store so that v0.1
could no longer open it; reading it (show) changes nothing v0.1 needs. v0.1 runs from its own source
(``git archive``); replies are SCRIPTED by the fault server; CLI, sandbox and store are real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.faults.harness import cli, meta, only_run
from tests.faults.server import FaultServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
V01 = "706d6d9"


@pytest.fixture(scope="module")
def v01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0.1's source tree."""
    into = tmp_path_factory.mktemp("v0.1")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", V01, "src"], capture_output=True, check=False)
    if archive.returncode != 0:
        pytest.skip(f"v0.1 ({V01}) is not in this checkout's history")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer()
    yield srv
    srv.close()


def _v01(src: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selftaught.cli.main", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(src)})


def test_a_v01_run_is_refused_unless_upgraded_and_v01_can_still_finish_it(v01, server, tmp_path):
    runs = tmp_path / "runs"
    made = _v01(v01, "run", "--model", "openai", "--base-url", server.base_url, "--model-name", "fault", "--task",
                "max_list", "--improver", "compact", "--iterations", "1", "--set", "budget.meta_utility_tests=2",
                "--set", "budget.improver_seconds=60", "--set", f"runs_dir='{runs}'",
                "--set", "cost.max_model_calls=5")
    assert made.returncode == 3, made.stderr  # stopped at the cap: a run to resume
    run_dir = only_run(runs)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)

    refused = cli("run", "--resume", str(run_dir), "--set", "cost.max_model_calls=1000")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "made by selftaught 0.1" in lines[0] and "--upgrade" in lines[0]
    assert cli("show", "--no-analyze", str(run_dir)).returncode == 0  # reading it is fine

    finished = _v01(v01, "run", "--resume", str(run_dir), "--set", "cost.max_model_calls=1000")
    assert finished.returncode == 0, finished.stderr  # v0.1 still opens and finishes its own run
    assert meta(run_dir, "status") == "finished"

    upgraded = cli("run", "--resume", str(copy), "--upgrade", "--set", "cost.max_model_calls=1000")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "continuing a run made by selftaught 0.1" in upgraded.stdout and meta(copy, "status") == "finished"
