"""The warm zygote: a long-lived sandboxed process that forks one fresh, limited child per program.

Run as ``python -I zygote.py CONTROL_FD`` inside the sandbox (bubblewrap, or a plain process at the
lower tiers). It imports NumPy and the guest modules once, so a child costs a ``fork`` and not an
interpreter start. It never runs untrusted code itself. Each child, before it reads the program, sets
its own session, rlimits and OOM score, installs the host-compiled seccomp filter, and then becomes an
ordinary guest worker (``worker.Guest``) on two fresh pipes whose other ends go to the host over the
control socket (SCM_RIGHTS); the zygote keeps only the child's pid, to kill and reap it.

Control messages are JSON over a SOCK_SEQPACKET socket, one message per packet. Standard library only.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import os
import signal
import socket
import stat
import sys
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import landlock
import worker

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PRELOAD = ("numpy", "numpy.random", "random", "math", "itertools", "collections", "functools", "heapq", "bisect", "re",
           "json", "copy", "string", "statistics", "dataclasses", "fractions", "decimal", "typing", "ast",
           "textwrap", "traceback", "resource", "ctypes", "helpers", "proxies", "wire")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompProgram:
    """A BPF program ready to install: built once in the zygote, installed by each child."""

    def __init__(self, program: bytes) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.buf = ctypes.create_string_buffer(program, len(program))
        self.prog = _SockFprog(len(program) // 8, ctypes.addressof(self.buf))

    def install(self) -> None:
        """Install on this (single-threaded) process; raise OSError on failure."""
        if self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if self.libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def landlock_paths(scratch: str) -> tuple[list[str], list[str]]:
    """What a program may read (system, interpreter, guest code) and write (scratch, /dev/null)."""
    guest = os.path.dirname(os.path.abspath(__file__))
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    read = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/dev", guest, *sorted(prefixes)]
    read += [p for p in sys.path if p and any(os.path.realpath(p).startswith(x) for x in prefixes)]
    return read, [scratch, os.devnull]


def _place(fds: list[int]) -> None:
    """Make ``fds`` this process's fds 0, 1, 2, ... (in order) and close every other descriptor."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, i)
    os.closerange(len(fds), 1 << 16)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE, MNT_DETACH = 2, 4, 0x4000, 0x40000, 2
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class PrivateScratch:
    """A fresh tmpfs at the scratch (and ``/dev/shm``) for every program.

    Why: tmpfs numbers inodes from a counter per filesystem, so on one shared scratch the files a
    program creates and deletes shift the inode numbers the next program's files get (13,000 files:
    +13,000, a covert channel no wipe resets). A new filesystem per program starts every program from
    the same numbers and leaves nothing of the last one. Mounting needs capabilities, so the zygote
    (single-threaded, before it imports anything) enters a user and mount namespace of its own, its uid
    and gid mapped onto themselves; its children drop every capability before anything else."""

    def __init__(self, scratch: str) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        st = os.statvfs(scratch)
        self.size = st.f_blocks * st.f_frsize  # as large as the one the sandbox was given
        self.places = [scratch, *(["/dev/shm"] if os.path.isdir("/dev/shm") else [])]
        self.mounted = False
        uid, gid = os.getuid(), os.getgid()
        if self.libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER | CLONE_NEWNS) failed")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        if self.libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "making the mounts private failed")
        self.renew()

    def renew(self) -> None:
        """Replace each place's tmpfs with a new, empty one (about 0.1 ms); raises OSError on failure."""
        os.chdir("/")  # the zygote's working directory must not keep the old scratch alive
        for place in self.places:
            if self.mounted and self.libc.umount2(place.encode(), MNT_DETACH) != 0:
                raise OSError(ctypes.get_errno(), f"unmounting {place} failed")
            options = f"size={self.size},mode={'1777' if place == '/dev/shm' else '700'}".encode()
            if self.libc.mount(b"tmpfs", place.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
                raise OSError(ctypes.get_errno(), f"mounting a tmpfs on {place} failed")
        self.mounted = True
        os.chdir(self.places[0])


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets: a child of a zygote in a user namespace of
    its own would otherwise hold every capability there."""
    libc = ctypes.CDLL(None, use_errno=True)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _become_child(fds: list[int], seccomp: SeccompProgram | None, nested: bool = False) -> None:
    """Runs in the forked child, fds = [to child, from child, /dev/null, parameters, (Landlock ruleset)].
    Confines itself in two steps: what needs no parameters right away (a pre-forked child waits here),
    then, once the rlimits arrive, rlimits and seccomp; then serves the host as a guest worker.
    ``nested``: the zygote holds capabilities in a user namespace of its own; drop them first."""
    import resource

    try:
        if nested:
            drop_capabilities()
        _place(fds)
        os.setsid()
        with open("/proc/self/oom_score_adj", "w") as f:  # the OOM killer takes the child, not the zygote
            f.write("1000")
        if len(fds) > 4:
            landlock.restrict_self(4)
            os.close(4)
        guest = worker.Guest()
        rlimits = json.loads(_read_all(3) or b"null")
        os.close(3)
        if not isinstance(rlimits, dict):
            os._exit(0)  # the zygote dropped this spare child
        for name, value in rlimits.items():
            # CPU: SIGXCPU at the limit, SIGKILL a second later (a program ignoring SIGXCPU still dies)
            hard = value + 1 if name == "RLIMIT_CPU" else value
            resource.setrlimit(getattr(resource, name), (value, hard))
        if seccomp is not None:
            seccomp.install()
    except BaseException:  # noqa: BLE001 - a child that cannot confine itself must not run the program
        os._exit(121)
    try:
        guest.serve()
    except BaseException:  # noqa: BLE001 - e.g. MemoryError while encoding a reply: the host sees a crash
        os._exit(120)
    os._exit(0)


#: Entries a program may leave in its scratch for the zygote to remove; past this the zygote is retired
#: (its whole tmpfs goes with the sandbox) rather than spending time on the wipe.
WIPE_MAX = 20_000


def _wipe_tree(top: str, budget: int) -> bool:
    """Empty directory ``top`` (not ``top`` itself), iteratively: a program can make directories deeper
    than the recursion limit, and modes 000 or 500 that a plain ``rmtree`` cannot enter or empty. Mount
    points (another device) are never entered. False when over ``budget`` entries or anything resists."""
    top_dev = os.lstat(top).st_dev
    stack: list[tuple[str, bool]] = [(top, False)]  # (directory, its entries already removed)
    seen = 0
    while stack:
        path, emptied = stack.pop()
        if emptied:
            if path != top:
                os.rmdir(path)
            continue
        try:  # a program's 000/500 directory: the zygote (same uid) may open and empty it again
            os.chmod(path, 0o700 if path != top else stat.S_IMODE(os.lstat(path).st_mode) | 0o700)
        except PermissionError:
            if path != top:
                raise
        stack.append((path, True))
        with os.scandir(path) as entries:
            for entry in entries:
                seen += 1
                if seen > budget:
                    return False
                st = entry.stat(follow_symlinks=False)
                if st.st_dev != top_dev:
                    return False  # something mounted in the scratch: never walk into it
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)
    return True


def _reset_dir(path: str) -> bool:
    """What an emptied directory itself could still carry to the next program: extended attributes,
    its mode and its timestamps (128 bits a program may set with ``utime``). True when all are reset."""
    for name in os.listxattr(path, follow_symlinks=False):
        os.removexattr(path, name, follow_symlinks=False)
    os.chmod(path, 0o1777 if path == "/dev/shm" else 0o700)
    os.utime(path, ns=(0, 0), follow_symlinks=False)
    return not os.listxattr(path, follow_symlinks=False)


class Zygote:
    def __init__(self, control_fd: int) -> None:
        self.sock = socket.socket(fileno=control_fd)
        self.seccomp: SeccompProgram | None = None
        self.landlock = 0
        self.ruleset = -1
        self.child: int | None = None
        self.spare: tuple[int, int, int, int] | None = None
        self.scratch = os.environ.get("TMPDIR", "/tmp")
        self.private: PrivateScratch | None = None
        self.nested = False  # in a user namespace of its own (children must drop capabilities)
        self.use_landlock = False
        self.failed = ""  # why this zygote must not fork another child ("" if it may)

    def send(self, obj: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(obj).encode()
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.send(data)

    def op_init(self, msg: dict) -> None:
        self.seccomp = SeccompProgram(bytes.fromhex(msg["seccomp"])) if msg.get("seccomp") else None
        if os.getpid() == 1:  # tier A, its scratch a tmpfs; before any import can start a thread
            self._enter_private()
        self.use_landlock = bool(msg.get("landlock"))
        if self.use_landlock:
            self.ruleset, self.landlock = landlock.build_ruleset(*landlock_paths(self.scratch))
        for name in PRELOAD:
            try:
                __import__(name)
            except ImportError:
                pass
        self._wipe_scratch()  # the first program finds the scratch exactly as every later one does
        self._renew_or_fail()
        gc.collect()
        gc.freeze()  # children's collections skip the zygote's objects: fewer copy-on-write page faults
        # no spare child yet: the host moves this process into its cgroup after "ready", and every child
        # must be forked after that to be born inside it
        self.send({"op": "ready", "pid": os.getpid(), "numpy": "numpy" in sys.modules, "landlock": self.landlock,
                   "private_scratch": self.private is not None})

    def _enter_private(self) -> None:
        """A scratch filesystem per program where the kernel allows it; the shared, wiped one if not."""
        try:
            self.private = PrivateScratch(self.scratch)
        except OSError as exc:
            self.private = None
            print(f"zygote: no scratch filesystem per program: {exc}", file=sys.stderr)
        # unshare may have succeeded before a later step failed: children drop whatever they would hold
        self.nested = self._capable()

    @staticmethod
    def _capable() -> bool:
        with open("/proc/self/status") as f:
            eff = next((line.split()[1] for line in f if line.startswith("CapEff:")), "0")
        return int(eff, 16) != 0

    def _fork_child(self) -> tuple[int, int, int, int]:
        """A new child waiting for its rlimits: (pid, host's write end, host's read end, parameters fd)."""
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        par_r, par_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            extra = [self.ruleset] if self.ruleset >= 0 else []
            _become_child([to_r, from_w, os.open(os.devnull, os.O_RDWR), par_r, *extra], self.seccomp,
                          self.nested)
        for fd in (to_r, from_w, par_r):
            os.close(fd)
        return pid, to_w, from_r, par_w

    def _prefork(self) -> None:
        """At pid 1 (where a reap kills everything anyway) keep one child forked ahead: a spawn then
        costs a write instead of a fork plus the child's first page faults."""
        if os.getpid() == 1 and self.spare is None:
            self.spare = self._fork_child()

    def op_spawn(self, msg: dict) -> None:
        if self.failed:
            raise OSError(self.failed)
        if self.child is not None:
            self._reap(kill=True)
            self._renew_or_fail()
            if self.failed:
                raise OSError(self.failed)
        ready, self.spare = self.spare, None
        params = json.dumps(msg.get("rlimits") or {}).encode()
        if ready is not None and not self._start(ready, params):
            ready = None
        if ready is None:
            ready = self._fork_child()
            if not self._start(ready, params):
                raise OSError("the freshly forked child died before it got its limits")
        pid, to_w, from_r, _ = ready
        self.child = pid
        # a pidfd lets the host read the child's CPU clock itself (kernel accounting the program cannot
        # patch), whatever pid namespace the child lives in
        pidfd = os.pidfd_open(pid)
        try:
            self.send({"op": "spawned", "pid": pid}, [to_w, from_r, pidfd])
        finally:
            for fd in (to_w, from_r, pidfd):
                os.close(fd)

    @staticmethod
    def _start(child: tuple[int, int, int, int], params: bytes) -> bool:
        """Hand a waiting child its rlimits; False (its fds closed, it reaped) if it is already gone."""
        pid, to_w, from_r, par_w = child
        try:
            reaped = os.waitpid(pid, os.WNOHANG)[0] != 0
        except ChildProcessError:  # killed and reaped already (e.g. by a reap's sweep)
            reaped = True
        gone = reaped
        if not gone:
            try:
                os.write(par_w, params)
            except OSError:
                gone = True
        os.close(par_w)
        if gone:
            os.close(to_w)
            os.close(from_r)
        if gone and not reaped:  # still our unreaped child: its pid cannot have been reused
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        return not gone

    def _kill_all(self) -> None:
        """Kill the child and anything it started: from pid 1 of the sandbox that is everything else."""
        if os.getpid() == 1:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.child is None:
            return
        child = self.child
        for target in (lambda: os.killpg(child, signal.SIGKILL), lambda: os.kill(child, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass

    def _reap(self, kill: bool, grace: float = 0.0) -> dict[str, Any]:
        pid, status, usage = 0, 0, None
        deadline = time.monotonic() + grace
        while not kill and self.child is not None:
            pid, status, usage = os.wait4(self.child, os.WNOHANG)
            if pid or time.monotonic() >= deadline:
                break
            time.sleep(0.0005)
        if not pid and self.child is not None:
            self._kill_all()
            pid, status, usage = os.wait4(self.child, 0)
        if os.getpid() == 1:  # anything the child left (it cannot fork, but be sure) goes with it
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap_strays()
        self.child = None
        clean = self._wipe_scratch()
        cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        return {"op": "reaped", "signal": sig, "code": code, "cpu": cpu, "killed": kill or not pid, "clean": clean}

    @staticmethod
    def _reap_strays() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return

    def _wipe_scratch(self) -> bool:
        """The next program must not see what this one left behind: remove everything in the scratch,
        whatever its modes, without following links. False if anything is left (or the program left
        more than ``WIPE_MAX`` entries): the host then retires this zygote instead of reusing it."""
        # At pid 1 (tier A) /dev is the sandbox's own: its shm directory is scratch too. Elsewhere it is
        # the host's, which Landlock keeps the program from writing to.
        if self.private is not None:
            return True  # its filesystems are replaced once the reply is sent (``op_reap``)
        places = [self.scratch, *(["/dev/shm"] if os.getpid() == 1 and os.path.isdir("/dev/shm") else [])]
        try:
            return all(_wipe_tree(p, WIPE_MAX) and not os.listdir(p) and _reset_dir(p) for p in places)
        except (OSError, RecursionError, MemoryError):
            return False

    def _renew_or_fail(self) -> None:
        """After a program (or at start): its private filesystems replaced, or this zygote refuses
        every later spawn (the host then retires it)."""
        if self.private is not None and not self._renew_private():
            self.failed = "could not renew the private scratch"

    def _renew_private(self) -> bool:
        """New, empty filesystems at the scratch and /dev/shm, and the Landlock ruleset rebuilt on the new
        scratch (a rule names a directory, and the old one is gone). False if anything failed."""
        assert self.private is not None
        try:
            self.private.renew()
            if self.use_landlock:
                old, (self.ruleset, self.landlock) = self.ruleset, landlock.build_ruleset(
                    *landlock_paths(self.scratch))
                if old >= 0:
                    os.close(old)
        except OSError:
            return False
        return not os.listdir(self.scratch)

    def op_reap(self, msg: dict) -> None:
        if self.child is None:
            self.send({"op": "reaped", "signal": None, "code": None, "cpu": 0.0, "killed": False, "clean": True})
            return
        reply = self._reap(bool(msg.get("kill")), float(msg.get("grace", 1.0)))
        self.send(reply)
        # after the reply, so that the host goes on meanwhile; before the next message is read, so no
        # child ever sees the last program's scratch. A failure refuses the next spawn (the host then
        # retires this zygote).
        self._renew_or_fail()
        if reply["clean"] and not self.failed:
            self._prefork()

    def op_ping(self, msg: dict) -> None:
        self.send({"op": "pong"})

    def serve(self) -> None:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                if self.child is not None:
                    self._kill_all()
                return
            try:
                msg = json.loads(data)
                getattr(self, f"op_{msg.get('op')}", self.op_ping)(msg)
            except Exception as exc:  # noqa: BLE001 - answer (the host then drops this zygote), never die mid-run
                traceback.print_exc()
                try:
                    self.send({"op": "error", "error": f"{type(exc).__name__}: {exc}"})
                except OSError:
                    return


if __name__ == "__main__":
    Zygote(int(sys.argv[1])).serve()
