"""Warm sandboxed workers: a pool of long-lived zygotes, one fresh forked child per worker.

Starting a sandbox (bubblewrap + an interpreter + NumPy) costs a few hundred milliseconds; forking a
child of a zygote that already did all of that costs about a millisecond. Each ``spawn`` asks an idle
zygote for a child, which confines itself (rlimits, seccomp) before it reads the program; ``close``
kills and reaps the child and wipes the scratch directory, and the zygote goes back to the pool. A
zygote that misbehaves or dies is destroyed (its whole tree and cgroup killed), never reused.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from selftaught.sandbox.cgroups import Cgroup
from selftaught.sandbox.channel import ChannelWorker, GuestDied
from selftaught.sandbox.cold import kill_tree, signal_death
from selftaught.sandbox.limits import Limits, Verdict

#: Headroom above the program's own memory limit for the zygote (interpreter + NumPy) in the cgroup.
CGROUP_HEADROOM = 256 * 1024 * 1024
PIDS_MAX = 512

#: Starts a zygote: control fd -> the process; provided by the tier.
Launcher = Callable[[int], subprocess.Popen]


class ZygoteError(Exception):
    """The zygote did not start or stopped answering."""


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
        try:
            self.proc = spec.launch(theirs.fileno())
        except BaseException:
            ours.close()
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
        except ZygoteError:
            self.destroy()
            raise
        if ready.get("op") != "ready":
            self.destroy()
            raise ZygoteError(f"the zygote answered {ready!r} instead of ready")
        self.landlock_abi = int(ready.get("landlock") or 0)
        self.pid_one = ready.get("pid") == 1
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

    @property
    def healthy(self) -> bool:
        return not self.broken and self.proc.poll() is None

    def spawn_child(self, limits: Limits) -> tuple[int, int]:
        memory = limits.memory_mb * 1024 * 1024 + CGROUP_HEADROOM
        if self.cgroup is not None and memory != self._memory_set:
            self.cgroup.set_memory(memory)
            self._memory_set = memory
        rlimits = {**limits.rlimits(), **self.spec.extra_rlimits}
        reply, fds = self.ask({"op": "spawn", "rlimits": rlimits}, fds=2)
        if reply.get("op") != "spawned" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self.broken = True
            raise ZygoteError(f"the zygote could not fork a child: {reply!r}")
        self.child_pid = reply.get("pid")
        return fds[0], fds[1]

    def reap(self, kill: bool, grace: float = 2.0) -> dict[str, Any] | None:
        """Kill (or wait for) the current child; its wait status and CPU time, None if the zygote is gone."""
        try:
            reply, _ = self.ask({"op": "reap", "kill": kill, "grace": grace}, timeout=grace + 5.0)
        except ZygoteError:
            return None
        self.child_pid = None
        if self.cgroup is not None and not self.pid_one:
            # stragglers that left the child's session (setsid) are still in the cgroup; at pid 1 of its own
            # namespace the zygote has already killed everything else in the sandbox
            self.cgroup.kill_all(spare=self._spare)
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


class WarmWorker(ChannelWorker):
    """One forked child of a zygote, holding one program."""

    def __init__(self, zygote: Zygote, limits: Limits, give_back: Callable[[Zygote], None]) -> None:
        self.zygote = zygote
        self._give_back = give_back
        self._reaped = False
        to_fd, from_fd = zygote.spawn_child(limits)
        super().__init__(limits, to_fd, from_fd)

    def _death(self, killed: bool) -> GuestDied:
        reply = self.zygote.reap(kill=killed)
        self._reaped = True
        if reply is None:
            self.zygote.broken = True
            return GuestDied(Verdict.CRASH, "the sandbox itself died while running the program")
        sig, code = reply.get("signal"), reply.get("code")
        oom_now = self.zygote.cgroup.oom_kills() if self.zygote.cgroup is not None else 0
        oom, self.zygote.oom_seen = oom_now > self.zygote.oom_seen, oom_now
        if oom:
            return GuestDied(Verdict.OOM, "the program exceeded its memory limit (killed by the cgroup)")
        if sig == signal.SIGKILL and not killed and float(reply.get("cpu", 0.0)) >= self.limits.cpu_seconds - 0.05:
            return GuestDied(Verdict.CPU, "the program exceeded its CPU-time limit")
        return signal_death(sig, code)

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
    """Idle zygotes of one tier, started on demand, reused across workers, at most ``size`` kept."""

    def __init__(self, spec: ZygoteSpec, size: int = 4) -> None:
        self.spec = spec
        self.size = size
        self._idle: list[Zygote] = []
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)  # zygotes die with the host anyway; this also frees their cgroups

    def adopt(self, zygote: Zygote) -> None:
        self.give_back(zygote)

    def take(self) -> Zygote:
        with self._lock:
            while self._idle:
                z = self._idle.pop()
                if z.healthy:
                    return z
                z.destroy()
        return Zygote(self.spec)

    def give_back(self, zygote: Zygote) -> None:
        with self._lock:
            if zygote.healthy and not self._closed and len(self._idle) < self.size:
                self._idle.append(zygote)
                return
        zygote.destroy()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for z in idle:
            z.destroy()
