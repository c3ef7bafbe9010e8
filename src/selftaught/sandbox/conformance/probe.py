"""The after-probe: a benign program run after every case, in a later worker of the same executor.

It proves the pool still works (its answer is 42) and reports what a later program can see that the
case's program left behind: entries in its scratch (cwd, $TMPDIR, $HOME) and, where it runs as a
sandbox uid of its own, in /tmp and /dev/shm; SysV IPC objects created by its uid; and, where it has
a private pid namespace (tier A), any process besides itself and the sandbox's pid 1.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE = r'''
import os

def _entries(path, everything):
    try:
        names = os.listdir(path)
    except OSError as exc:
        return [path + ": unreadable (" + (exc.strerror or "error") + ")"]
    out = []
    for name in names:
        full = os.path.join(path, name)
        try:
            mine = os.lstat(full).st_uid == os.getuid()
        except OSError:
            mine = True
        if everything or mine:
            out.append(full)
    return out

def _sysvipc():
    out = []
    for kind in ("shm", "msg", "sem"):
        try:
            lines = open("/proc/sysvipc/" + kind).read().splitlines()
        except OSError:
            continue
        if not lines:
            continue
        head = lines[0].split()
        col = head.index("cuid") if "cuid" in head else None
        for line in lines[1:]:
            cells = line.split()
            if col is not None and len(cells) > col and cells[col] == str(os.getuid()):
                out.append(kind + ":" + cells[1])
    return out

def probe(host_uid, private_pids):
    scratch = {os.path.realpath(p) for p in (os.getcwd(), os.environ.get("TMPDIR", ""),
                                              os.environ.get("HOME", "")) if p}
    files = []
    for d in sorted(scratch):
        files += _entries(d, True)
    if os.getuid() != host_uid:  # a sandbox uid of its own: its files elsewhere are the programs'
        for d in ("/tmp", "/dev/shm", "/dev/mqueue"):
            if os.path.realpath(d) not in scratch and os.path.isdir(d):
                files += _entries(d, False)
    procs = []
    if private_pids:
        procs = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    return {"answer": 42, "files": sorted(files), "ipc": sorted(_sysvipc()), "procs": procs}
'''


@dataclass(frozen=True)
class Residue:
    """What a later program sees; compared against what earlier programs were already blamed for."""

    files: frozenset[str]
    ipc: frozenset[str]
    procs: frozenset[str]

    @classmethod
    def of(cls, value: dict) -> Residue:
        return cls(frozenset(value.get("files", ())), frozenset(value.get("ipc", ())),
                   frozenset(value.get("procs", ())))

    def __or__(self, other: Residue) -> Residue:
        return Residue(self.files | other.files, self.ipc | other.ipc, self.procs | other.procs)

    def beyond(self, baseline: Residue) -> list[str]:
        """Everything present now and not at the baseline, one description each."""
        return ([f"file {f}" for f in sorted(self.files - baseline.files)]
                + [f"SysV IPC object {i}" for i in sorted(self.ipc - baseline.ipc)]
                + [f"process {p}" for p in sorted(self.procs - baseline.procs)])


@dataclass
class Baseline:
    """Residue already seen (before the suite, or left by an earlier case and reported there): each case
    is blamed only for what it adds, so one failure does not fail every later case too."""

    seen: Residue
