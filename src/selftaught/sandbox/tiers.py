"""Isolation tiers, and the start-up probe that picks the best one that really works here.

- A ``bwrap``: bubblewrap (all namespaces, read-only system, tmpfs scratch, uid 65534) + seccomp +
  rlimits + cgroup.
- B ``seccomp``: no namespaces (no user namespaces on this host): an unprivileged uid + seccomp +
  rlimits + cgroup.
- C ``unsandboxed``: a separate process with an empty environment, rlimits and the host's timeout only.

A tier is in force only after a tiny program ran through it and reported the confinement it saw (its
seccomp mode, its uid). The probe's result is cached for the process; its zygote joins the pool.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from selftaught.errors import SandboxUnavailable
from selftaught.sandbox.bwrap import SANDBOX_UID, bwrap_binary, bwrap_command
from selftaught.sandbox.cold import GUEST_DIR, guest_environment
from selftaught.sandbox.limits import Limits, Verdict
from selftaught.sandbox.seccomp_filter import SeccompUnavailable, compile_filter
from selftaught.sandbox.warm import WarmWorker, Zygote, ZygoteError, ZygoteSpec

ORDER = ("A", "B", "C")
NAMES = {"A": "bwrap", "B": "seccomp", "C": "unsandboxed"}
FIX_A = "install bubblewrap (sudo apt-get install bubblewrap, or scripts/install_system.sh)"
PROBE_PROGRAM = """
import os
def probe():
    status = open('/proc/self/status').read()
    mode = [l.split()[1] for l in status.splitlines() if l.startswith('Seccomp:')]
    return {"answer": 42, "seccomp": int(mode[0]) if mode else -1, "uid": os.getuid(),
            "env": sorted(os.environ), "cwd": os.getcwd()}
"""


@dataclass
class TierChoice:
    """The tier in force, what it applied, and why better tiers were not used."""

    letter: str
    spec: ZygoteSpec
    cgroup: list[str] = field(default_factory=list)
    landlock: int = 0  # Landlock ABI applied in each child, 0 if none
    rejected: dict[str, str] = field(default_factory=dict)
    zygote: Zygote | None = None  # the probe's zygote, handed to the first pool

    @property
    def name(self) -> str:
        return NAMES[self.letter]

    @property
    def label(self) -> str:
        """Recorded with every result, e.g. ``bwrap+cgroup``."""
        return self.name + ("+landlock" if self.landlock else "") + ("+cgroup" if self.cgroup else "")

    @property
    def isolated(self) -> bool:
        return self.letter != "C"


def _launch_bwrap(fd: int) -> subprocess.Popen:
    return subprocess.Popen(bwrap_command(fd), pass_fds=(fd,), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"},
                            start_new_session=True)


def _launch_plain(drop_uid: bool) -> Callable[[int], subprocess.Popen]:
    def launch(fd: int) -> subprocess.Popen:
        scratch = tempfile.mkdtemp(prefix="selftaught-")
        drop_to = SANDBOX_UID if drop_uid and os.getuid() == 0 else None
        if drop_to is not None:
            os.chown(scratch, drop_to, drop_to)
        return subprocess.Popen([sys.executable, "-I", str(GUEST_DIR / "zygote.py"), str(fd)], pass_fds=(fd,),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=scratch, env=guest_environment(scratch), start_new_session=True,
                                user=drop_to, group=drop_to, extra_groups=[] if drop_to is not None else None)
    return launch


def _spec(letter: str) -> ZygoteSpec:
    if letter == "C":
        return ZygoteSpec(_launch_plain(drop_uid=False), seccomp=None)
    try:
        bpf = compile_filter()
    except SeccompUnavailable as exc:
        raise SandboxUnavailable(f"{exc}; pip install pyseccomp and apt-get install libseccomp2") from None
    if letter == "A":
        if bwrap_binary() is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {FIX_A}")
        return ZygoteSpec(_launch_bwrap, seccomp=bpf, landlock=True, extra_rlimits={"RLIMIT_NPROC": 512})
    if os.getuid() != 0 and os.getuid() == SANDBOX_UID:
        raise SandboxUnavailable("tier B needs a uid other than the sandbox's own")
    return ZygoteSpec(_launch_plain(drop_uid=True), seccomp=bpf, landlock=True)


def _probe(letter: str) -> TierChoice:
    """Start a zygote of this tier and run the probe program; raise SandboxUnavailable if it fails."""
    spec = _spec(letter)
    try:
        zygote = Zygote(spec, start_timeout=60.0)
    except (ZygoteError, OSError) as exc:
        hint = f" (the interpreter must be readable by uid {SANDBOX_UID}; or {FIX_A})" \
            if isinstance(exc, PermissionError) else ""
        raise SandboxUnavailable(f"tier {letter} ({NAMES[letter]}) did not start: {exc}{hint}") from None
    worker, error = None, ""
    try:
        worker = WarmWorker(zygote, Limits(wall_seconds=30), lambda z: None)
        loaded = worker.load(PROBE_PROGRAM)
        res = worker.call("probe", []) if loaded.ok else loaded
    except ZygoteError as exc:
        res = None
        error = str(exc)
    finally:
        if worker is not None:
            worker.close()
    if res is None or res.verdict is not Verdict.OK or not isinstance(res.value, dict):
        zygote.destroy()
        detail = error if res is None else f"{res.verdict}: {res.error}"
        raise SandboxUnavailable(f"tier {letter} ({NAMES[letter]}): the probe program failed ({detail})")
    seen = res.value
    problem = _confinement_problem(letter, seen)
    if problem:
        zygote.destroy()
        raise SandboxUnavailable(f"tier {letter} ({NAMES[letter]}): {problem}")
    cg = zygote.cgroup.controllers if zygote.cgroup else []
    if letter == "B" and not zygote.landlock_abi:
        zygote.destroy()
        raise SandboxUnavailable("tier B needs Landlock for filesystem isolation; this kernel has none")
    return TierChoice(letter, spec, cgroup=cg, landlock=zygote.landlock_abi,
                      zygote=zygote if zygote.healthy else None)


def _confinement_problem(letter: str, seen: dict) -> str | None:
    if seen.get("answer") != 42:
        return "the probe program's answer was wrong"
    leaked = [k for k in seen.get("env", []) if any(w in k.upper() for w in ("KEY", "TOKEN", "SECRET"))]
    if leaked:
        return f"the sandbox saw host secrets: {leaked}"
    if letter in ("A", "B") and seen.get("seccomp") != 2:
        return f"the seccomp filter is not in force (mode {seen.get('seccomp')})"
    if letter in ("A", "B") and seen.get("uid") == 0:
        return "the program ran as root"
    return None


_cache: dict[str, TierChoice] = {}
_cache_lock = threading.Lock()


def select_tier(wanted: str = "auto") -> TierChoice:
    """The best working tier (``auto``) or exactly the one asked for ("A", "B", "C"). Cached per process."""
    wanted = (os.environ.get("SELFTAUGHT_SANDBOX_TIER") or wanted or "auto").strip().upper()
    if wanted not in ("AUTO", *ORDER):
        raise SandboxUnavailable(f"unknown sandbox tier {wanted!r}; use auto, A, B or C")
    with _cache_lock:
        if wanted in _cache:
            cached = _cache[wanted]
            return TierChoice(cached.letter, cached.spec, cached.cgroup, cached.landlock, cached.rejected)
        rejected: dict[str, str] = {}
        for letter in ORDER if wanted == "AUTO" else (wanted,):
            try:
                choice = _probe(letter)
            except SandboxUnavailable as exc:
                rejected[letter] = str(exc)
                continue
            choice.rejected = rejected
            _cache[wanted] = choice
            return choice
    raise SandboxUnavailable("no sandbox tier works here: " + "; ".join(rejected.values()))
