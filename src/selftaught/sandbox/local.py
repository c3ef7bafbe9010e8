"""Local executor: one child process per worker (isolation tier ``process``).

What this tier guarantees: the program runs in another process with an empty environment (no API
keys), a private scratch directory as cwd and HOME, rlimits (CPU, address space, file size, open files,
no core dumps), its own session, and a wall-clock deadline after which the host kills its whole process
tree. What it does not: filesystem and network isolation (the namespace tier adds those).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from selftaught.guest import wire
from selftaught.sandbox.executor import CallHandler, CallResult, Executor, RefusedCall, Worker
from selftaught.sandbox.limits import Limits, Verdict

GUEST_DIR = Path(__file__).resolve().parent.parent / "guest"
_SIGNAL_VERDICTS = {signal.SIGXCPU: Verdict.CPU, signal.SIGSYS: Verdict.VIOLATION}


class _Dead(Exception):
    def __init__(self, verdict: Verdict, error: str) -> None:
        super().__init__(error)
        self.verdict = verdict
        self.error = error


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


class ProcessWorker(Worker):
    def __init__(self, limits: Limits, command_prefix: list[str] | None = None) -> None:
        self.limits = limits
        self.scratch = tempfile.mkdtemp(prefix="selftaught-")
        cmd = [*(command_prefix or []), sys.executable, "-I", str(GUEST_DIR / "worker.py")]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.scratch, env=guest_environment(self.scratch), start_new_session=True, close_fds=True,
        )
        assert self.proc.stdin and self.proc.stdout
        self._out_fd = self.proc.stdout.fileno()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._out_fd, selectors.EVENT_READ)
        reply = self._request({"op": "init", "rlimits": limits.rlimits()}, wall=30.0, handler=None)
        if not reply.ok:
            raise RuntimeError(f"sandbox worker failed to start: {reply.error}")

    # ---- channel ------------------------------------------------------------------------------------
    def _read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not self._sel.select(timeout=remaining):
                continue
            chunk = os.read(self._out_fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _read_frame(self, deadline: float) -> Any:
        (size,) = wire.HEADER.unpack(self._read_exact(wire.HEADER.size, deadline))
        if size > wire.MAX_FRAME:
            raise _Dead(Verdict.OUTPUT, f"the program sent {size} bytes, more than the channel allows")
        try:
            return wire.decode(self._read_exact(size, deadline))
        except ValueError as exc:
            raise _Dead(Verdict.PROTOCOL, f"the program corrupted the channel: {exc}") from None

    def _send(self, obj: Any) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(wire.encode(obj))
        self.proc.stdin.flush()

    def _exit_verdict(self) -> _Dead:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            code = self.proc.wait()
        if code < 0:
            sig = signal.Signals(-code)
            return _Dead(_SIGNAL_VERDICTS.get(sig, Verdict.CRASH), f"the program died by {sig.name}")
        return _Dead(Verdict.CRASH, f"the program exited with status {code}")

    def _request(self, msg: dict, *, wall: float, handler: CallHandler | None) -> CallResult:
        start = time.monotonic()
        deadline = start + wall
        try:
            self._send(msg)
            while True:
                frame = self._read_frame(deadline)
                if not isinstance(frame, dict):
                    raise _Dead(Verdict.PROTOCOL, "the program sent a malformed frame")
                if frame.get("op") == "rpc":
                    served = time.monotonic()
                    self._send(self._serve(frame, handler))
                    deadline += time.monotonic() - served  # host time does not count against the program
                    continue
                return self._result(frame, time.monotonic() - start)
        except TimeoutError:
            self.close()
            return CallResult(Verdict.TIMEOUT, error=f"wall-clock limit of {wall:.1f} s exceeded; killed",
                              wall_seconds=time.monotonic() - start)
        except (EOFError, BrokenPipeError, OSError):
            dead = self._exit_verdict()
            self.close()
            return CallResult(dead.verdict, error=dead.error, wall_seconds=time.monotonic() - start)
        except _Dead as dead:
            self.close()
            return CallResult(dead.verdict, error=dead.error, wall_seconds=time.monotonic() - start)

    @staticmethod
    def _serve(frame: dict, handler: CallHandler | None) -> dict:
        if handler is None:
            return {"ok": False, "error": "this program has no utility or language model to call"}
        try:
            return {"ok": True, "value": handler(str(frame.get("target")), str(frame.get("method")),
                                                 list(frame.get("args") or []))}
        except RefusedCall as exc:
            return {"ok": False, "error": str(exc)}

    @staticmethod
    def _result(frame: dict, wall: float) -> CallResult:
        if frame.get("ok"):
            return CallResult(Verdict.OK, value=frame.get("value"), cpu_seconds=float(frame.get("cpu", 0.0)),
                              wall_seconds=wall, output=str(frame.get("output", "")))
        verdict = Verdict.OOM if frame.get("kind") == "oom" else Verdict.ERROR
        return CallResult(verdict, error=str(frame.get("error")), cpu_seconds=float(frame.get("cpu", 0.0)),
                          wall_seconds=wall, output=str(frame.get("output", "")))

    # ---- Worker API -----------------------------------------------------------------------------------
    def load(self, source: str) -> CallResult:
        return self._request({"op": "load", "source": source}, wall=self.limits.wall_seconds, handler=None)

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        msg = {"op": "call", "fn": fn, "args": wire.tag_arrays(list(args)), "seed": seed}
        return self._request(msg, wall=wall_seconds or self.limits.wall_seconds, handler=handler)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait()
        else:
            kill_tree(self.proc.pid)  # the leader is gone; its group may not be
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        self._sel.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class LocalExecutor(Executor):
    """A fresh child process per worker. Tier ``process``: see the module docstring."""

    tier = "process"

    def spawn(self, limits: Limits) -> Worker:
        return ProcessWorker(limits)
