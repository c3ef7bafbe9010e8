"""Latency of one warm sandboxed evaluation (spawn, load, one call, close), 300 back to back after 20
warm-up ones, on one zygote: to compare two source trees side by side, run it with each on PYTHONPATH.
Run by hand (not a test):  PYTHONPATH=src .venv/bin/python benchmarks/warm_spawn_latency.py LABEL
"""

from __future__ import annotations

import statistics
import sys
import time

from selftaught.sandbox import Limits
from selftaught.sandbox.local import LocalExecutor

LIMITS = Limits(wall_seconds=30)


def main() -> None:
    ex = LocalExecutor(pool_size=1)

    def one() -> None:
        with ex.spawn(LIMITS) as w:
            assert w.load("def algorithm(xs):\n    return max(xs)\n").ok
            assert w.call("algorithm", [[3, 1, 4]]).value == 4

    try:
        for _ in range(20):
            one()
        times = []
        for _ in range(300):
            started = time.perf_counter()
            one()
            times.append(time.perf_counter() - started)
    finally:
        ex.close()
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"{label} {ex.tier}: median {statistics.median(times) * 1000:.2f} ms, "
          f"p90 {sorted(times)[269] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
