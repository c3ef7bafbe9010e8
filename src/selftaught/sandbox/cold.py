"""A fresh interpreter per worker (no zygote): the slow path, kept as a baseline and a fallback.

The program runs in a new ``python -I`` process with an empty environment, a private scratch directory
as cwd and HOME, rlimits, its own session, and a wall-clock deadline after which the host kills its
whole process tree. No filesystem or network isolation: this is tier C ("unsandboxed").
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from selftaught.errors import SandboxUnavailable
from selftaught.sandbox.channel import ChannelWorker, GuestDied
from selftaught.sandbox.executor import Executor, Worker
from selftaught.sandbox.limits import Limits, Verdict

GUEST_DIR = Path(__file__).resolve().parent.parent / "guest"
SIGNAL_VERDICTS = {signal.SIGXCPU: Verdict.CPU, signal.SIGSYS: Verdict.VIOLATION,
                   signal.SIGXFSZ: Verdict.VIOLATION}


def guest_environment(scratch: str) -> dict[str, str]:
    """The whole environment a program sees: nothing inherited from the host."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": scratch,
        "TMPDIR": scratch,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }


def kill_tree(pid: int) -> None:
    """Kill a process, everything it started (even setsid'd children that are still its descendants)
    and its process group."""
    try:
        proc = psutil.Process(pid)
        victims = proc.children(recursive=True) + [proc]
    except psutil.Error:
        victims = []
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def signal_death(sig: int | None, code: int | None) -> GuestDied:
    """Classify how a guest process ended from its wait status."""
    if sig:
        name = signal.Signals(sig).name
        verdict = SIGNAL_VERDICTS.get(signal.Signals(sig), Verdict.CRASH)
        reason = {Verdict.VIOLATION: " (a forbidden operation or the file-size limit)",
                  Verdict.CPU: " (CPU-time limit)"}.get(verdict, "")
        return GuestDied(verdict, f"the program died by {name}{reason}")
    if code == 121:
        return GuestDied(Verdict.CRASH, "the sandboxed child could not confine itself (limits/seccomp)")
    return GuestDied(Verdict.CRASH, f"the program exited with status {code}")


class ProcessWorker(ChannelWorker):
    def __init__(self, limits: Limits) -> None:
        self.scratch = tempfile.mkdtemp(prefix="selftaught-")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(GUEST_DIR / "worker.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.scratch, env=guest_environment(self.scratch), start_new_session=True, close_fds=True,
        )
        assert self.proc.stdin and self.proc.stdout
        super().__init__(limits, os.dup(self.proc.stdin.fileno()), os.dup(self.proc.stdout.fileno()), self.proc.pid)
        self.proc.stdin.close()
        self.proc.stdout.close()
        reply = self._request({"op": "init", "rlimits": limits.rlimits()}, wall=30.0, handler=None)
        if not reply.ok:
            raise SandboxUnavailable(f"the process worker (tier C) failed to start: {reply.error}; check this "
                                     "machine with `selftaught doctor`")

    def _death(self, killed: bool) -> GuestDied:
        if killed:
            kill_tree(self.proc.pid)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            code = self.proc.wait()
        return signal_death(-code if code < 0 else None, code if code >= 0 else None)

    @property
    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def _release(self) -> None:
        kill_tree(self.proc.pid)  # the leader may be gone; its group may not be
        self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


class ColdProcessExecutor(Executor):
    """A new interpreter per worker: the baseline the warm pool is measured against (tier C)."""

    @property
    def tier(self) -> str:
        return "unsandboxed"

    @property
    def isolated(self) -> bool:
        return False

    def spawn(self, limits: Limits) -> Worker:
        return ProcessWorker(limits)
