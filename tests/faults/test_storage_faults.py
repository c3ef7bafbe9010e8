"""Storage faults on real (small, tmpfs) file systems: a disk that fills up before or during a run, a
read-only runs_dir, and a finished run archived on a read-only mount. One line each, no run left
unresumable, and show/report/analyze work on the archive. Replies are SCRIPTED by the fault server.

Mounting needs root (CI runs as root); elsewhere these tests skip.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.faults.harness import cli, iteration_lines, meta, only_run, resume_args, run_args, snapshot
from tests.faults.server import FaultServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    srv = FaultServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def reference(server: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[str]]:
    runs = tmp_path_factory.mktemp("reference")
    proc = cli(*run_args(server.base_url, runs))
    assert proc.returncode == 0, proc.stderr
    return only_run(runs), snapshot(only_run(runs)), iteration_lines(proc.stdout)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size, *options)`` mounts a fresh tmpfs under tmp_path; ``remount(path, *options)`` below."""
    mounted: list[Path] = []

    def mount(size: str, *options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        opts = ",".join([f"size={size}", *options])
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True,
                              check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def remount(point: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(["remount", *options]), str(point)], check=True)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_disk_too_full_to_start_leaves_nothing_behind(server, tmpfs):
    disk = tmpfs("120k")
    proc = cli(*run_args(server.base_url, disk / "runs"))
    assert proc.returncode == 2
    assert "nothing was left behind" in _one_line(proc.stderr)
    assert not list((disk / "runs").iterdir())


def test_a_disk_that_fills_mid_run_stops_it_and_resume_finishes_it_once_there_is_space(server, reference, tmpfs):
    disk = tmpfs("500k")
    proc = cli(*run_args(server.base_url, disk / "runs"))
    assert proc.returncode == 2
    line = _one_line(proc.stderr)
    assert "is full" in line and "--resume" in line
    run_dir = only_run(disk / "runs")
    remount(disk, "size=64m")  # space freed
    resumed = cli(*resume_args(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(run_dir) == reference[1]
    assert iteration_lines(resumed.stdout) == reference[2]


def test_a_read_only_runs_dir_is_one_line_before_anything_is_created(server, tmpfs):
    disk = tmpfs("1m")
    remount(disk, "ro")
    proc = cli(*run_args(server.base_url, disk))
    assert proc.returncode == 2 and "not writable" in _one_line(proc.stderr)


def test_show_report_and_analyze_work_on_a_read_only_archive(reference, tmpfs, tmp_path):
    disk = tmpfs("16m")
    archived = disk / reference[0].name
    shutil.copytree(reference[0], archived)
    remount(disk, "ro")
    before = {p.name: p.read_bytes() for p in archived.iterdir() if p.is_file()}
    shown = cli("show", str(archived))
    assert shown.returncode == 0, shown.stderr
    assert iteration_lines(shown.stdout)[:len(reference[2])] == reference[2]  # then the CI table
    analyzed = cli("analyze", str(archived))
    assert analyzed.returncode == 0, analyzed.stderr
    reported = cli("report", str(archived), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert (tmp_path / f"{archived.name}-report.html").stat().st_size > 1000
    assert {p.name: p.read_bytes() for p in archived.iterdir() if p.is_file()} == before
    assert meta(archived, "status") == "finished"


def _damaged_copy(run_dir: Path, into: Path, kind: str) -> Path:
    """A copy of a finished run whose store was damaged the way disks and copies damage files."""
    copy = into / run_dir.name
    shutil.copytree(run_dir, copy)
    db = copy / "run.sqlite"
    data = bytearray(db.read_bytes())
    if kind == "random-last-page":
        data[-4096:] = random.Random(0).randbytes(4096)
    elif kind == "cut-one-byte":  # reads as a zero where the byte was: a value changed silently
        data = data[:-1]
    elif kind == "not-sqlite":
        data[:16] = b"x" * 16
    db.write_bytes(bytes(data))
    return copy


DAMAGED_COMMANDS = [["show"], ["report"], ["analyze"], ["run", "--resume"], ["report", "--watch", "--interval", "0.1"]]


@pytest.mark.parametrize("kind", ["random-last-page", "cut-one-byte", "not-sqlite"])
def test_a_damaged_store_is_one_line_for_every_command_and_is_left_as_it_was(kind, reference, tmp_path):
    for n, command in enumerate(DAMAGED_COMMANDS):
        copy = _damaged_copy(reference[0], tmp_path / str(n), kind)
        before = (copy / "run.sqlite").read_bytes()
        proc = cli(command[0], *command[1:], str(copy), timeout=120)
        line = _one_line(proc.stderr)
        assert proc.returncode == 2, (command, proc.stderr)
        assert ("damaged" if kind != "not-sqlite" else "not a SQLite database") in line, (command, line)
        assert (copy / "run.sqlite").read_bytes() == before, command  # nothing written into it


def test_resume_and_watch_on_a_read_only_archive_are_one_line_or_the_final_report(reference, tmpfs, tmp_path):
    disk = tmpfs("16m")
    archived = disk / reference[0].name
    shutil.copytree(reference[0], archived)
    remount(disk, "ro")
    resumed = cli("run", "--resume", str(archived))
    assert resumed.returncode == 2 and "cannot be written" in _one_line(resumed.stderr)
    watched = cli("report", "--watch", "--interval", "0.1", str(archived), cwd=tmp_path, timeout=120)
    assert watched.returncode == 0, watched.stderr  # nothing can be running there: the report, once
    assert "Traceback" not in watched.stderr and (tmp_path / f"{archived.name}-report.html").stat().st_size > 1000


def test_a_report_into_a_missing_directory_is_one_line(reference, tmp_path):
    proc = cli("report", "--no-analyze", "--out", str(tmp_path / "missing" / "r.html"), str(reference[0]))
    assert proc.returncode == 2 and "does not exist" in _one_line(proc.stderr)
    assert not (tmp_path / "missing").exists()
