"""The host end of one guest's channel: framed requests with a deadline, RPCs served in between.

Shared by every worker kind (a cold process per worker, a child forked by a warm zygote). A subclass
says how the guest is killed and how its death is classified; everything about frames, deadlines,
output bounds and serving the program's ``utility``/``language_model`` calls lives here once.
"""

from __future__ import annotations

import os
import selectors
import time
from abc import abstractmethod
from typing import Any

from selftaught.guest import wire
from selftaught.sandbox.executor import CallHandler, CallResult, RefusedCall, Worker
from selftaught.sandbox.limits import Limits, Verdict

#: Largest answer a program may send back. Bigger frames are refused unread (verdict output_limit).
MAX_REPLY = 16 * 1024 * 1024


class GuestDied(Exception):
    """The guest is gone or misbehaved; carries the verdict to record."""

    def __init__(self, verdict: Verdict, error: str) -> None:
        super().__init__(error)
        self.verdict = verdict
        self.error = error


class ChannelWorker(Worker):
    """A worker reached through two pipes (``to_fd`` host->guest, ``from_fd`` guest->host)."""

    def __init__(self, limits: Limits, to_fd: int, from_fd: int) -> None:
        self.limits = limits
        self._to_fd = to_fd
        self._from_fd = from_fd
        self._sel = selectors.DefaultSelector()
        self._sel.register(from_fd, selectors.EVENT_READ)
        self._closed = False

    # ---- what a subclass provides ---------------------------------------------------------------
    @abstractmethod
    def _death(self, killed: bool) -> GuestDied:
        """Wait for the guest to end (killing it if ``killed``) and classify how it ended."""

    @abstractmethod
    def _release(self) -> None:
        """Free the guest's process and resources (called once, from ``close``)."""

    # ---- frames -----------------------------------------------------------------------------------
    def _read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not self._sel.select(timeout=remaining):
                continue
            chunk = os.read(self._from_fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _read_frame(self, deadline: float) -> Any:
        (size,) = wire.HEADER.unpack(self._read_exact(wire.HEADER.size, deadline))
        if size > MAX_REPLY:
            raise GuestDied(Verdict.OUTPUT, f"the program sent {size} bytes, more than the {MAX_REPLY} allowed")
        try:
            return wire.decode(self._read_exact(size, deadline))
        except ValueError as exc:
            raise GuestDied(Verdict.PROTOCOL, f"the program corrupted the channel: {exc}") from None

    def _send(self, obj: Any) -> None:
        data = memoryview(wire.encode(obj))
        while data:
            data = data[os.write(self._to_fd, data):]

    def _request(self, msg: dict, *, wall: float, handler: CallHandler | None) -> CallResult:
        start = time.monotonic()
        deadline = start + wall
        if self._closed:
            return CallResult(Verdict.CRASH, error="the worker is closed")
        try:
            self._send(msg)
            while True:
                frame = self._read_frame(deadline)
                if not isinstance(frame, dict):
                    raise GuestDied(Verdict.PROTOCOL, "the program sent a malformed frame")
                if frame.get("op") == "rpc":
                    served = time.monotonic()
                    self._send(self._serve(frame, handler))
                    deadline += time.monotonic() - served  # host time does not count against the program
                    continue
                return self._result(frame, time.monotonic() - start)
        except TimeoutError:
            self._death(killed=True)
            self.close()
            return CallResult(Verdict.TIMEOUT, error=f"wall-clock limit of {wall:.1f} s exceeded; killed",
                              wall_seconds=time.monotonic() - start)
        except (EOFError, OSError):  # BrokenPipeError included
            dead = self._death(killed=False)
            self.close()
            return CallResult(dead.verdict, error=dead.error, wall_seconds=time.monotonic() - start)
        except GuestDied as dead:
            self._death(killed=True)
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
        cpu = float(frame.get("cpu", 0.0) or 0.0)
        output = str(frame.get("output", ""))
        if frame.get("ok"):
            return CallResult(Verdict.OK, value=frame.get("value"), cpu_seconds=cpu, wall_seconds=wall,
                              output=output)
        verdict = Verdict.OOM if frame.get("kind") == "oom" else Verdict.ERROR
        return CallResult(verdict, error=str(frame.get("error")), cpu_seconds=cpu, wall_seconds=wall,
                          output=output)

    # ---- Worker API -------------------------------------------------------------------------------
    def load(self, source: str) -> CallResult:
        return self._request({"op": "load", "source": source}, wall=self.limits.wall_seconds, handler=None)

    def call(self, fn: str, args: list, *, seed: int | None = None, handler: CallHandler | None = None,
             wall_seconds: float | None = None) -> CallResult:
        msg = {"op": "call", "fn": fn, "args": wire.tag_arrays(list(args)), "seed": seed}
        return self._request(msg, wall=wall_seconds or self.limits.wall_seconds, handler=handler)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sel.close()
        for fd in (self._to_fd, self._from_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._release()
