"""Warm sandboxed workers: a pool of long-lived zygotes, one fresh forked child per worker.

Starting a sandbox (bubblewrap + an interpreter + NumPy) costs a few hundred milliseconds; forking a
child of a zygote that already did all of that costs about a millisecond. Each ``spawn`` asks an idle
zygote for a child, which confines itself (rlimits, seccomp) before it reads the program; ``close``
kills and reaps the child and wipes the scratch directory, and the zygote goes back to the pool. A
zygote that misbehaves or dies is destroyed (its whole tree and cgroup killed), never reused.

Every zygote is started from one long-lived launcher thread, never from the caller's thread: tier A's
``bwrap --die-with-parent`` is ``PR_SET_PDEATHSIG``, whose "parent" is the *thread* that forked the
sandbox, so a zygote started by a worker thread (a meta-utility run) was SIGKILLed when that thread
ended, possibly while a later program was loading in it. A zygote that still dies or stops answering
before the program's top level has finished (not the program's doing: no OOM kill) is an
infrastructure failure: the load is retried once on a freshly started zygote.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import psutil

from selftaught.sandbox.cgroups import Cgroup
from selftaught.sandbox.channel import ChannelWorker, GuestDied, pidfd_pid
from selftaught.sandbox.cold import kill_tree, signal_death
from selftaught.sandbox.executor import CallResult
from selftaught.sandbox.limits import Limits, Verdict

#: Headroom above the program's own memory limit for the zygote (interpreter + NumPy) in the cgroup.
CGROUP_HEADROOM = 256 * 1024 * 1024
PIDS_MAX = 512
#: The zygote's (and bubblewrap's) stderr is kept in a temporary file, cut back to its tail past this.
STDERR_KEEP = 64 * 1024
LOST = "the sandbox itself died while running the program"

#: Starts a zygote: (control fd, stderr fd) -> the process; provided by the tier.
Launcher = Callable[[int, int], subprocess.Popen]


class ZygoteError(Exception):
    """The zygote did not start or stopped answering."""


class _LaunchThread:
    """One thread per process that starts every sandbox and lives as long as the process (see the
    module docstring: a sandbox must not die with the thread that happened to ask for it)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _serve(self) -> None:
        while True:
            fn, args, fut = self._jobs.get()
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(exc)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._jobs = queue.SimpleQueue()  # after a fork, the old thread is gone
                self._thread = threading.Thread(target=self._serve, name="selftaught-zygote-launcher",
                                                daemon=True)
                self._thread.start()
                self._pid = os.getpid()
            jobs = self._jobs
        fut: Future = Future()
        jobs.put((fn, args, fut))
        return fut.result()


_launcher = _LaunchThread()


@dataclass
class ZygoteSpec:
    """How to start zygotes for one tier."""

    launch: Launcher
    seccomp: bytes | None
    use_cgroup: bool = True
    landlock: bool = False
    extra_rlimits: dict[str, int] = field(default_factory=dict)


class Zygote:
    """Host handle of one zygote process and its control socket."""

    def __init__(self, spec: ZygoteSpec, start_timeout: float = 60.0) -> None:
        self.spec = spec
        self.cgroup = Cgroup.create(PIDS_MAX) if spec.use_cgroup else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.stderr = tempfile.TemporaryFile(prefix="selftaught-zygote-")  # noqa: SIM115 - lives as long as the zygote
        fcntl.fcntl(self.stderr.fileno(), fcntl.F_SETFL, fcntl.fcntl(self.stderr.fileno(), fcntl.F_GETFL) | os.O_APPEND)
        try:
            self.proc = _launcher.run(spec.launch, theirs.fileno(), self.stderr.fileno())
        except BaseException:
            ours.close()
            self.stderr.close()
            self._drop_cgroup()
            raise
        finally:
            theirs.close()
        self.broken = False
        self.child_pid: int | None = None
        self._memory_set = 0
        self.oom_seen = self.cgroup.oom_kills() if self.cgroup else 0
        try:
            ready, _ = self.ask({"op": "init", "seccomp": spec.seccomp.hex() if spec.seccomp else None,
                                 "landlock": spec.landlock}, timeout=start_timeout)
        except ZygoteError as exc:
            said = self.said()
            self.destroy()
            raise ZygoteError(f"{exc}{': ' + said if said else ''}") from None
        if ready.get("op") != "ready":
            self.destroy()
            raise ZygoteError(f"the zygote answered {ready!r} instead of ready")
        self.landlock_abi = int(ready.get("landlock") or 0)
        self.pid_one = ready.get("pid") == 1
        #: Each program gets a tmpfs of its own at the scratch (tier A; see ``guest/zygote.private_scratch``)
        self.private_scratch = bool(ready.get("private_scratch"))
        try:  # the launcher and the zygote itself (host pids) are spared when stragglers are swept
            self._spare = {self.proc.pid} | {p.pid for p in psutil.Process(self.proc.pid).children()}
        except psutil.Error:
            self._spare = {self.proc.pid}
        if self.cgroup is not None and not self.cgroup.adopt_tree(self.proc.pid):
            self._drop_cgroup()  # could not move the sandbox in: run without (recorded by the tier label)

    def ask(self, msg: dict[str, Any], timeout: float = 10.0, fds: int = 0) -> tuple[dict[str, Any], list[int]]:
        try:
            self.sock.settimeout(timeout)
            self.sock.send(json.dumps(msg).encode())
            data, got, _, _ = socket.recv_fds(self.sock, 1 << 16, max(fds, 1))
        except OSError as exc:  # socket.timeout included
            self.broken = True
            raise ZygoteError(f"the sandbox zygote stopped answering ({type(exc).__name__})") from None
        if not data:
            self.broken = True
            raise ZygoteError("the sandbox zygote is gone")
        return json.loads(data), list(got)

    def said(self, limit: int = 2000) -> str:
        """The end of what the zygote (or bubblewrap) wrote to stderr, for error messages."""
        try:
            size = os.fstat(self.stderr.fileno()).st_size
            tail = os.pread(self.stderr.fileno(), limit, max(0, size - limit))
        except (OSError, ValueError):
            return ""
        return tail.decode(errors="replace").strip()

    def _trim_stderr(self) -> None:
        try:
            fd = self.stderr.fileno()
            size = os.fstat(fd).st_size
            if size > STDERR_KEEP:  # keep the tail (the file is O_APPEND: no holes)
                tail = os.pread(fd, STDERR_KEEP // 2, size - STDERR_KEEP // 2)
                os.ftruncate(fd, 0)
                os.pwrite(fd, tail, 0)
        except (OSError, ValueError):
            pass

    @property
    def healthy(self) -> bool:
        """Not known broken, the launcher alive, and the zygote's end of the control socket still open
        (a zygote that died while idle closes it even while bubblewrap is still exiting)."""
        if self.broken or self.proc.poll() is not None:
            return False
        try:
            self.sock.settimeout(0)  # with a timeout set, recv would first wait for data
            peek = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing to read, peer still there: the normal idle state
        except OSError:
            return False
        return bool(peek)  # b"": the zygote is gone; data: an unexpected message, do not trust it

    def spawn_child(self, limits: Limits) -> tuple[int, int, int | None]:
        """A fresh confined child: (host's write end, host's read end, the child's pid in this host's
        namespace, read from the pidfd the zygote sent, for the host's own CPU and memory readings)."""
        memory = limits.memory_mb * 1024 * 1024 + CGROUP_HEADROOM
        if self.cgroup is not None and memory != self._memory_set:
            self.cgroup.set_memory(memory)
            self._memory_set = memory
        rlimits = {**limits.rlimits(), **self.spec.extra_rlimits}
        reply, fds = self.ask({"op": "spawn", "rlimits": rlimits}, fds=3)
        if reply.get("op") != "spawned" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            self.broken = True
            raise ZygoteError(f"the zygote could not fork a child: {reply!r}")
        self.child_pid = reply.get("pid")
        host_pid = pidfd_pid(fds[2])
        os.close(fds[2])
        return fds[0], fds[1], host_pid

    def reap(self, kill: bool, grace: float = 2.0) -> dict[str, Any] | None:
        """Kill (or wait for) the current child; its wait status and CPU time, None if the zygote is gone."""
        try:
            reply, _ = self.ask({"op": "reap", "kill": kill, "grace": grace}, timeout=grace + 5.0)
        except ZygoteError:
            return None
        if reply.get("op") != "reaped":
            self.broken = True
            return None
        if reply.get("clean") is not True:  # the program left something the wipe could not remove
            self.broken = True
        self.child_pid = None
        if self.cgroup is not None and not self.pid_one:
            # stragglers that left the child's session (setsid) are still in the cgroup; at pid 1 of its own
            # namespace the zygote has already killed everything else in the sandbox
            self.cgroup.kill_all(spare=self._spare)
        self._trim_stderr()
        return reply

    def _drop_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def destroy(self) -> None:
        """Kill the zygote, its children (setsid'd ones too: the cgroup holds them all) and free it."""
        self.broken = True
        try:
            self.sock.close()
        except OSError:
            pass
        if getattr(self, "proc", None) is not None:
            kill_tree(self.proc.pid)
            if self.cgroup is not None:
                self.cgroup.kill_all()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
        self._drop_cgroup()
        stderr = getattr(self, "stderr", None)
        if stderr is not None:
            stderr.close()


class WarmWorker(ChannelWorker):
    """One forked child of a zygote, holding one program.

    ``fresh`` (optional) starts a new zygote: when the sandbox itself is lost while the program's top
    level runs (the zygote died or stopped answering, and the cgroup saw no OOM kill, so nothing says the
    program did it), ``load`` is retried once in a child of a fresh zygote instead of recording a crash.
    """

    def __init__(self, zygote: Zygote, limits: Limits, give_back: Callable[[Zygote], None],
                 fresh: Callable[[], Zygote] | None = None) -> None:
        self.zygote = zygote
        self._give_back = give_back
        self._fresh = fresh
        self._reaped = False
        self._lost = False  # the last death was the sandbox's, not the program's
        self.retried = False
        to_fd, from_fd, pid = zygote.spawn_child(limits)
        super().__init__(limits, to_fd, from_fd, pid)

    def load(self, source: str) -> CallResult:
        res = super().load(source)
        if not (self._lost and res.verdict is Verdict.CRASH and self._fresh is not None and not self.retried):
            return res
        self.retried = True
        zygote: Zygote | None = None
        try:
            zygote = self._fresh()
            to_fd, from_fd, pid = zygote.spawn_child(self.limits)
        except (ZygoteError, OSError) as exc:
            if zygote is not None:  # destroyed, and no longer counted as lent by the pool
                zygote.broken = True
                self._give_back(zygote)
            return CallResult(Verdict.CRASH, error=f"{res.error}; a fresh sandbox did not start either: {exc}",
                              wall_seconds=res.wall_seconds)
        self.zygote, self._reaped, self._lost = zygote, False, False
        ChannelWorker.__init__(self, self.limits, to_fd, from_fd, pid)  # the first channel is closed: a new one
        return super().load(source)

    def _death(self, killed: bool) -> GuestDied:
        reply = self.zygote.reap(kill=killed)
        self._reaped = True
        oom_now = self.zygote.cgroup.oom_kills() if self.zygote.cgroup is not None else 0
        oom, self.zygote.oom_seen = oom_now > self.zygote.oom_seen, oom_now
        if oom:  # the program's memory, even if the OOM killer took the zygote with (or instead of) it
            if reply is None:
                self.zygote.broken = True
            return GuestDied(Verdict.OOM, "the program exceeded its memory limit (killed by the cgroup)")
        if reply is None:
            self.zygote.broken = True
            self._lost = True
            said = self.zygote.said(500)
            return GuestDied(Verdict.CRASH, LOST + (f" (the sandbox said: {said})" if said else ""))
        sig = reply.get("signal")
        if sig == signal.SIGKILL and not killed and float(reply.get("cpu", 0.0)) >= self.limits.cpu_seconds - 0.05:
            return GuestDied(Verdict.CPU, "the program exceeded its CPU-time limit")
        return signal_death(sig, reply.get("code"))

    @property
    def alive(self) -> bool:
        return not self._closed and self.zygote.healthy

    def _release(self) -> None:
        if not self._reaped:
            self._reaped = self.zygote.reap(kill=True) is not None
        if not self._reaped:
            self.zygote.broken = True
        self._give_back(self.zygote)


class ZygotePool:
    """Idle zygotes of one tier, started on demand, reused across workers, at most ``size`` kept.

    ``reserve(n)`` says how many workers will be open at once (a parallel meta-utility evaluation holds
    one per improver run *and* one per scoring run): the pool then keeps that many and starts the missing
    ones in the background, each under ``cpu_slot`` (starting one is ~80 ms of CPU, so it must not
    oversubscribe the cores), so a burst of parallel work does not wait for zygotes to start one after
    another inside its own CPU slots, and a pool smaller than the burst does not destroy and restart
    zygotes on every evaluation.
    """

    def __init__(self, spec: ZygoteSpec, size: int = 4) -> None:
        self.spec = spec
        self.size = size
        self._idle: list[Zygote] = []
        self._lent = 0  # taken and not given back (or discarded) yet
        self._lock = threading.Lock()
        self._closed = False
        self._warmer: threading.Thread | None = None
        self._target = 0  # zygotes reserved (idle + lent), see reserve
        atexit.register(self.close)  # zygotes die with the host anyway; this also frees their cgroups

    def adopt(self, zygote: Zygote) -> None:
        with self._lock:
            if zygote.healthy and not self._closed and len(self._idle) < self.size:
                self._idle.append(zygote)
                return
        zygote.destroy()

    def take(self) -> Zygote:
        with self._lock:
            while self._idle:
                z = self._idle.pop()
                if z.healthy:
                    self._lent += 1
                    return z
                z.destroy()
        return self.fresh()

    def fresh(self) -> Zygote:
        """A newly started zygote (not one that sat idle: after a failure, those are suspect)."""
        z = Zygote(self.spec)
        with self._lock:
            self._lent += 1
        return z

    def give_back(self, zygote: Zygote) -> None:
        with self._lock:
            self._lent = max(0, self._lent - 1)
            if zygote.healthy and not self._closed and len(self._idle) < self.size:
                self._idle.append(zygote)
                return
        zygote.destroy()

    def discard(self, zygote: Zygote) -> None:
        """A lent zygote that failed: destroyed, never reused."""
        with self._lock:
            self._lent = max(0, self._lent - 1)
        zygote.destroy()

    def reserve(self, workers: int, cpu_slot: Any = None) -> None:
        """Keep up to ``workers`` zygotes and start the missing ones in the background, on spare CPU:
        each start waits until ``cpu_slot`` (a semaphore such as the executor's CPU slots) has a slot
        free, so warming up never makes a program wait. Without ``cpu_slot``, one start at a time."""
        with self._lock:
            if self._closed:
                return
            self.size = max(self.size, workers)
            self._target = max(self._target, workers)
            if self._warmer is not None and self._warmer.is_alive():
                return
            self._warmer = threading.Thread(target=self._warm, args=(cpu_slot,), daemon=True,
                                            name="selftaught-zygote-warmer")
            self._warmer.start()

    def _missing(self) -> int:
        with self._lock:
            return 0 if self._closed else self._target - len(self._idle) - self._lent

    def _warm(self, cpu_slot: Any) -> None:
        while self._missing() > 0:
            if cpu_slot is not None and not cpu_slot.acquire(blocking=False):
                time.sleep(0.005)  # every slot busy: the programs come first
                continue
            try:
                if self._missing() > 0:
                    self.adopt(Zygote(self.spec))
            except (ZygoteError, OSError):
                return  # a start that fails here fails again on demand, where the caller sees why
            finally:
                if cpu_slot is not None:
                    cpu_slot.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            warmer = self._warmer
        if warmer is not None and warmer is not threading.current_thread():
            warmer.join(timeout=30)  # at most the start in progress; it is destroyed on adopt
        for z in idle:
            z.destroy()
