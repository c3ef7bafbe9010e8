"""Memory and pids cgroups for one warm zygote, best-effort: used where writable, recorded either way.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies, as on these machines) and v2 (one unified
hierarchy) are both handled. The group is created below the host process's own group, so one run never
touches another's. Why a cgroup when rlimits exist: RLIMIT_AS does not count tmpfs pages or the kernel's
memory, and RLIMIT_NPROC counts per user, not per sandbox; the cgroup's OOM counter also tells an OOM
kill apart from any other SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Set as AbstractSet
from pathlib import Path

import psutil

ROOT = Path("/sys/fs/cgroup")


def _own_paths() -> dict[str, str]:
    """controller name ('' for v2) -> this process's group path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _sweep_stale(own: dict[str, str]) -> None:
    """Remove groups left by selftaught processes that died without cleaning up (their pid is gone)."""
    parents = [ROOT / ctl / own.get(ctl, "/").lstrip("/") for ctl in ("memory", "pids")]
    parents.append(ROOT / own.get("", "/").lstrip("/"))
    for parent in parents:
        try:
            entries = list(parent.glob("selftaught-*"))
        except OSError:
            continue
        for d in entries:
            owner = d.name.split("-")[1] if d.name.count("-") >= 2 else ""
            if owner.isdigit() and psutil.pid_exists(int(owner)):
                continue
            try:
                d.rmdir()  # fails (harmlessly) while processes are still inside
            except OSError:
                pass


class Cgroup:
    """One group (per controller directory) holding one zygote and its children."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs = dirs  # controller -> directory; v2 uses the same directory for both
        self.version = version

    @property
    def controllers(self) -> list[str]:
        return sorted(self.dirs)

    @classmethod
    def create(cls, pids_max: int = 512) -> Cgroup | None:
        """A fresh group with memory and/or pids control, or None where no hierarchy is writable."""
        name = f"selftaught-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        own = _own_paths()
        _sweep_stale(own)
        dirs: dict[str, Path] = {}
        if (ROOT / "memory").is_dir() or (ROOT / "pids").is_dir():
            for ctl in ("memory", "pids"):
                d = ROOT / ctl / own.get(ctl, "/").lstrip("/") / name
                try:
                    d.mkdir()
                except OSError:
                    continue
                dirs[ctl] = d
            version = 1
        elif (ROOT / "cgroup.controllers").is_file():
            parent = ROOT / own.get("", "/").lstrip("/")
            try:
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                d = parent / name
                d.mkdir()
            except OSError:
                return None
            dirs = {ctl: d for ctl in ("memory", "pids") if ctl in enabled}
            if not dirs:
                d.rmdir()
                return None
            version = 2
        else:
            return None
        group = cls(dirs, version) if dirs else None
        if group is not None and not group._write("pids", "pids.max", str(pids_max)):
            group.dirs.pop("pids", None)
        return group if group and group.dirs else None

    def _write(self, ctl: str, name: str, value: str) -> bool:
        d = self.dirs.get(ctl)
        if d is None:
            return False
        try:
            (d / name).write_text(value)
        except OSError:
            return False
        return True

    def set_memory(self, limit_bytes: int) -> bool:
        if self.version == 1:
            ok = self._write("memory", "memory.limit_in_bytes", str(limit_bytes))
            self._write("memory", "memory.memsw.limit_in_bytes", str(limit_bytes))  # absent without swap acct
            return ok
        return self._write("memory", "memory.max", str(limit_bytes)) and \
            (self._write("memory", "memory.swap.max", "0") or True)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this group so far."""
        d = self.dirs.get("memory")
        if d is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (d / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def adopt_tree(self, root_pid: int) -> bool:
        """Move a process and all its descendants in. Called while the zygote is idle (it has forked
        nothing yet), so every child it forks later is born inside the group."""
        try:
            proc = psutil.Process(root_pid)
            pids = [root_pid] + [p.pid for p in proc.children(recursive=True)]
        except psutil.Error:
            return False
        try:
            for d in set(self.dirs.values()):
                for pid in pids:
                    (d / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in set(self.dirs.values()):
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self, spare: AbstractSet[int] = frozenset()) -> None:
        """SIGKILL every process in the group but ``spare``, wherever it moved in the process tree."""
        for _ in range(3):
            pids = self.pids() - spare
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def remove(self, wait: float = 2.0) -> None:
        self.kill_all()
        deadline = time.monotonic() + wait
        while self.pids() and time.monotonic() < deadline:  # killed processes leave once reaped
            time.sleep(0.005)
        for d in set(self.dirs.values()):
            try:
                d.rmdir()
            except OSError:
                pass
