"""What one program can still tell about the previous program on the same warm sandbox (tier A).

For each channel, program A either does nothing or sends (creates and deletes 13,000 files; starts
threads; creates pipes), then program B reads what it can (the inode numbers of new files, its own pid,
the inode number of its channel pipe and of a pidfd of itself). Each pair runs ROUNDS times each way;
the shift is B's reading after A sent minus after A did nothing (medians).
Run by hand (not a test):  .venv/bin/python benchmarks/warm_shared_state.py
"""

from __future__ import annotations

import statistics

from selftaught.sandbox import Limits
from selftaught.sandbox.local import LocalExecutor

ROUNDS = 5
LIMITS = Limits(wall_seconds=60, memory_mb=1024)
SEND = {
    "files": "def send(n):\n    import os\n    for i in range(n):\n        open('f%d' % i, 'w').close()\n"
             "        os.unlink('f%d' % i)\n    return n\n",
    "threads": "def send(n):\n    import threading\n    ts = [threading.Thread(target=lambda: None) for _ in range(n)]\n"
               "    for t in ts:\n        t.start()\n        t.join()\n    return n\n",
    "pipes": "def send(n):\n    import os\n    for _ in range(n):\n        r, w = os.pipe()\n        os.close(r)\n"
             "        os.close(w)\n    return n\n",
}
AMOUNT = {"files": 13_000, "threads": 400, "pipes": 13_000}
READ = '''
import os
def read():
    open("probe", "w").close()
    out = {"file inode": os.stat("probe").st_ino, "pid": os.getpid(), "pipe inode": os.fstat(0).st_ino}
    try:
        fd = os.pidfd_open(os.getpid())
        out["pidfd inode"] = os.fstat(fd).st_ino
    except OSError:
        out["pidfd inode"] = -1
    return out
'''


def once(ex: LocalExecutor, source: str, fn: str, args: list) -> object:
    with ex.spawn(LIMITS) as w:
        assert w.load(source).ok
        res = w.call(fn, args)
        assert res.ok, res.error
        return res.value


def main() -> None:
    ex = LocalExecutor(pool_size=1) if "pool_size" in LocalExecutor.__init__.__code__.co_varnames else LocalExecutor()
    try:
        print(f"executor {ex.tier}; {ROUNDS} rounds; shift = B's reading after A sent minus after A did nothing")
        for channel, source in SEND.items():
            shifts: dict[str, list[int]] = {}
            for _ in range(ROUNDS):
                readings = []
                for n in (0, AMOUNT[channel]):
                    once(ex, source, "send", [n])
                    readings.append(once(ex, READ, "read", []))
                for key in readings[0]:
                    shifts.setdefault(key, []).append(readings[1][key] - readings[0][key])
            cells = ", ".join(f"{k} {statistics.median(v):+g} ({min(v):+d}..{max(v):+d})" for k, v in shifts.items())
            print(f"A sends {AMOUNT[channel]:,} {channel}: {cells}")
    finally:
        ex.close()


if __name__ == "__main__":
    main()
