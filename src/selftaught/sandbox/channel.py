"""The host end of one guest's channel: framed requests with a deadline, RPCs served in between.

Shared by every worker kind (a cold process per worker, a child forked by a warm zygote). A subclass
says how the guest is killed and how its death is classified; everything about frames, deadlines,
output bounds and serving the program's ``utility``/``language_model`` calls lives here once.

What the host judges by is measured here, never taken from the program: the CPU time of a call is the
difference of the guest process's CPU clock (kernel accounting, read by the host through the process's
pid) before the request and when the answer arrives; the verdict comes from how the call ended (answer,
refusal, exit status, signal, cgroup event). Every frame is hostile input (see ``frames``): bounded
before decoding, validated after; a bad one is a verdict, never a host exception.
"""

from __future__ import annotations

import os
import secrets
import selectors
import time
from abc import abstractmethod
from typing import Any

from selftaught.guest import wire
from selftaught.sandbox import frames
from selftaught.sandbox.executor import CallHandler, CallResult, HostileCall, Worker, serve_rpc
from selftaught.sandbox.limits import Limits, Verdict

#: Largest answer a program may send back. Bigger frames are refused unread (verdict output_limit). It
#: bounds what one answer can cost the host: the frame, its decoded text and the value it holds.
MAX_REPLY = frames.MAX_BODY
#: Printed output kept per call (the guest bounds it too; a forged frame may not).
MAX_OUTPUT = 70_000


def process_cpu_clock(pid: int) -> int:
    """The clock id of process ``pid``'s CPU time (all its threads), readable by the host with
    ``time.clock_gettime`` (Linux: ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``)."""
    return ((~pid) << 3) | 2


def pidfd_pid(pidfd: int) -> int | None:
    """The pid, in this process's namespace, of the process a pidfd refers to (None if gone)."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as f:
            for line in f:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
                    return pid if pid > 0 else None
    except (OSError, ValueError):
        return None
    return None


class GuestDied(Exception):
    """The guest is gone or misbehaved; carries the verdict to record."""

    def __init__(self, verdict: Verdict, error: str) -> None:
        super().__init__(error)
        self.verdict = verdict
        self.error = error


class ChannelWorker(Worker):
    """A worker reached through two pipes (``to_fd`` host->guest, ``from_fd`` guest->host)."""

    def __init__(self, limits: Limits, to_fd: int, from_fd: int, guest_pid: int | None = None) -> None:
        self.limits = limits
        self._to_fd = to_fd
        self._from_fd = from_fd
        self._sel = selectors.DefaultSelector()
        self._sel.register(from_fd, selectors.EVENT_READ)
        self._closed = False
        self._guest_pid = guest_pid
        self._cpu_clock = process_cpu_clock(guest_pid) if guest_pid else None
        # CPU clock when the last answer arrived: the next request is charged from here, so CPU a program
        # burns between calls (a background thread) is charged too, never lost between two readings
        self._cpu_mark: float | None = None

    def _cpu_now(self) -> float | None:
        """The guest process's CPU seconds so far, from the kernel; None if it cannot be read."""
        if self._cpu_clock is None:
            return None
        try:
            return time.clock_gettime(self._cpu_clock)
        except OSError:
            return None

    # ---- what a subclass provides ---------------------------------------------------------------
    @abstractmethod
    def _death(self, killed: bool) -> GuestDied:
        """Wait for the guest to end (killing it if ``killed``) and classify how it ended."""

    @abstractmethod
    def _release(self) -> None:
        """Free the guest's process and resources (called once, from ``close``)."""

    # ---- frames -----------------------------------------------------------------------------------
    def _read_exact(self, n: int, deadline: float) -> bytearray:
        """``n`` bytes, read straight into one buffer (a large answer is held once, not copied)."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not self._sel.select(timeout=remaining):
                continue
            chunk = os.readv(self._from_fd, [view[got:got + (1 << 20)]])
            if not chunk:
                raise EOFError
            got += chunk
        return buf

    def _read_frame(self, deadline: float) -> dict[str, Any]:
        (size,) = wire.HEADER.unpack(self._read_exact(wire.HEADER.size, deadline))
        if size > MAX_REPLY:
            raise GuestDied(Verdict.OUTPUT, f"the program sent {size} bytes, more than the {MAX_REPLY} allowed")
        try:
            frame = frames.decode(self._read_exact(size, deadline))
        except frames.FrameError as exc:
            raise GuestDied(exc.verdict, exc.error) from None
        if not isinstance(frame, dict):
            raise GuestDied(Verdict.PROTOCOL, "the program sent a malformed frame")
        return frame

    def _send(self, obj: Any) -> None:
        data = memoryview(wire.encode(obj))
        while data:
            data = data[os.write(self._to_fd, data):]

    def _request(self, msg: dict, *, wall: float, handler: CallHandler | None) -> CallResult:
        start = time.monotonic()
        deadline = start + wall
        served = 0.0  # host seconds spent serving the program's calls
        if self._closed:
            return CallResult(Verdict.CRASH, error="the worker is closed")
        cpu_start = self._cpu_mark if self._cpu_mark is not None else self._cpu_now()
        # a fresh nonce per request, echoed with the answer: a frame written before the request was sent
        # (a program answering ahead, or a stale answer) cannot carry it
        nonce = secrets.token_hex(8)
        msg = {**msg, "id": nonce}
        try:
            if self._sel.select(timeout=0):  # the guest waits for a request: it has nothing to say yet
                if not os.read(self._from_fd, 1):
                    raise EOFError
                raise GuestDied(Verdict.PROTOCOL, "the program wrote to its channel between calls")
            self._send(msg)
            while True:
                frame = self._read_frame(deadline)
                if frame.get("op") == "rpc":
                    if self.limits.serve_seconds is not None and served > self.limits.serve_seconds:
                        raise GuestDied(Verdict.TIMEOUT, f"the host spent more than {self.limits.serve_seconds:.0f}"
                                                         " s serving this program's calls; killed")
                    began = time.monotonic()
                    self._send(self._serve(frame, handler))
                    spent = time.monotonic() - began
                    served += spent
                    deadline += spent  # host time does not count against the program
                    continue
                if frame.get("id") != nonce:
                    raise GuestDied(Verdict.PROTOCOL, "the program answered a request it was not asked")
                cpu_end = self._cpu_now()
                self._cpu_mark = cpu_end
                cpu = None if cpu_end is None or cpu_start is None else max(0.0, cpu_end - cpu_start)
                return self._result(frame, time.monotonic() - start, cpu, served)
        except TimeoutError:
            self._death(killed=True)
            self.close()
            return CallResult(Verdict.TIMEOUT, error=f"wall-clock limit of {wall:.1f} s exceeded; killed",
                              wall_seconds=time.monotonic() - start, served_seconds=served)
        except (EOFError, OSError):  # BrokenPipeError included
            cpu = self._cpu_since(cpu_start)
            dead = self._death(killed=False)
            self.close()
            return CallResult(dead.verdict, error=dead.error, wall_seconds=time.monotonic() - start,
                              cpu_seconds=cpu or 0.0, served_seconds=served)
        except GuestDied as dead:
            cpu = self._cpu_since(cpu_start)
            self._death(killed=True)
            self.close()
            return CallResult(dead.verdict, error=dead.error, wall_seconds=time.monotonic() - start,
                              cpu_seconds=cpu or 0.0, served_seconds=served)

    def _cpu_since(self, cpu_start: float | None) -> float | None:
        now = self._cpu_now()
        return None if now is None or cpu_start is None else max(0.0, now - cpu_start)

    @staticmethod
    def _serve(frame: dict[str, Any], handler: CallHandler | None) -> dict[str, Any]:
        call = frames.rpc_call(frame)
        if call is None:
            return {"ok": False, "error": "malformed call: target and method must be names, args a short list"}
        if handler is None:
            return {"ok": False, "error": "this program has no utility or language model to call"}
        try:
            return serve_rpc(handler, *call)
        except HostileCall as exc:
            raise GuestDied(Verdict.PROTOCOL, str(exc)) from None

    def _peak_memory(self) -> int:
        """The guest's peak address space in bytes (``VmPeak``, kernel accounting), 0 if unknown."""
        try:
            with open(f"/proc/{self._guest_pid}/status") as f:
                for line in f:
                    if line.startswith("VmPeak:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def _result(self, frame: dict[str, Any], wall: float, cpu: float | None, served: float) -> CallResult:
        """The answer frame, read field by field as hostile input. The verdict is OK for an answer and
        ERROR for the program's own failure, whatever kind it claims: a MemoryError counts as ``oom``
        only if the kernel saw the program's address space reach its limit."""
        guest_cpu = frames.seconds(frame.get("cpu"))
        output = frames.text(frame.get("output"), MAX_OUTPUT)
        if cpu is None:  # the process clock was unreadable: charge the wall time, never the program's word
            cpu = wall
        common: dict[str, Any] = {"cpu_seconds": cpu, "wall_seconds": wall, "output": output, "served_seconds": served,
                  "guest_cpu_seconds": guest_cpu}
        if frame.get("ok") is True:
            return CallResult(Verdict.OK, value=frame.get("value"), **common)
        error = frames.text(frame.get("error")) or "the program failed without saying why"
        oom = frame.get("kind") == "oom" and self._peak_memory() >= 0.8 * self.limits.memory_mb * 1024 * 1024
        return CallResult(Verdict.OOM if oom else Verdict.ERROR, error=error, **common)

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
