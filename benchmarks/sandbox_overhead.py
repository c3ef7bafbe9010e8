"""Sandbox overhead: evaluations per second and median latency of one trivial evaluation, four ways.

(a) in-process ``exec`` (the reference's way; no isolation at all)
(b) a fresh ``python3`` subprocess per evaluation (the peers' way; cold tier C worker)
(c) a fresh fully isolated sandbox per evaluation (bubblewrap + seccomp + rlimits + cgroup, cold)
(d) our warm sandboxed workers (a forked, confined child of a warm zygote per evaluation, tier A)

One evaluation = start a worker, load the solution, call it once, shut the worker down.
Run by hand (not a test):  .venv/bin/python benchmarks/sandbox_overhead.py [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from selftaught.sandbox import Limits
from selftaught.sandbox.cold import ColdProcessExecutor
from selftaught.sandbox.local import LocalExecutor
from selftaught.sandbox.tiers import select_tier
from selftaught.sandbox.warm import WarmWorker, Zygote

SOLUTION = "def algorithm(xs):\n    return max(xs)\n"
ARGS = [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3]]
LIMITS = Limits(wall_seconds=30)


def in_process() -> None:
    namespace: dict = {}
    exec(SOLUTION, namespace)
    assert namespace["algorithm"](*ARGS) == 9


def make_sandboxed(executor) -> Callable[[], None]:
    def run() -> None:
        with executor.spawn(LIMITS) as worker:
            assert worker.load(SOLUTION).ok
            assert worker.call("algorithm", ARGS).value == 9
    return run


def make_cold_isolated() -> Callable[[], None]:
    spec = select_tier("A").spec

    def run() -> None:
        zygote = Zygote(spec)
        try:
            with WarmWorker(zygote, LIMITS, lambda z: None) as worker:
                assert worker.load(SOLUTION).ok
                assert worker.call("algorithm", ARGS).value == 9
        finally:
            zygote.destroy()
    return run


def measure(fn: Callable[[], None], n: int) -> tuple[float, float]:
    """(evaluations per second, median seconds per evaluation) over ``n`` runs after one warm-up."""
    fn()
    times = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n / (time.perf_counter() - start), statistics.median(times)


def table(rows: dict[str, tuple[float, float]]) -> str:
    a_med = rows["a"][1]
    lines = ["| way | evaluations/s | median latency (ms) |", "|---|---:|---:|"]
    names = {"a": "(a) in-process exec (unsafe)", "b": "(b) fresh python3 subprocess",
             "c": "(c) fresh bwrap+seccomp sandbox", "d": "(d) warm sandboxed workers"}
    for key, (rate, med) in rows.items():
        lines.append(f"| {names[key]} | {rate:,.1f} | {1000 * med:.2f} |")
    d_rate, d_med = rows["d"]
    overhead = f"- median overhead of (d) over (a): **{1000 * (d_med - a_med):.2f} ms** per evaluation (target <= 5 ms)"
    lines += ["", f"- (d) / (c) evaluations per second: **{d_rate / rows['c'][0]:.1f}x** (target >= 10x)",
              f"- (d) / (b) evaluations per second: **{d_rate / rows['b'][0]:.1f}x** (target >= 3x)", overhead]
    return "\n".join(lines)


def checkout_place() -> str:
    """Where this checkout lives: under /tmp, bubblewrap binds it inside the sandbox's /tmp view."""
    root = Path(__file__).resolve().parents[1]
    return "checkout under /tmp" if str(root).startswith("/tmp/") else "checkout elsewhere"


def write_section(path: Path, body: str, command: str) -> None:
    load = os.getloadavg()[0]
    title = f"## Sandbox overhead ({checkout_place()})"
    root = Path(__file__).resolve().parents[1]
    section = (f"{title}\n\nMeasured with `{command}` in a {checkout_place()} ({root}) on this "
               "project's 2-core machine "
               f"({time.strftime('%Y-%m-%d')}; load average {load:.1f} from other jobs at the time, so "
               "absolute numbers are noisy: every row slows down together).\n"
               "One evaluation = start a worker, load a trivial solution, call it once, shut the worker down. "
               "(c) starts a new bubblewrap sandbox and interpreter (which imports NumPy, as the warm zygote "
               "does) for every evaluation; (d) forks a confined child of a warm zygote.\n\n" + body + "\n")
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(title) + r"\n.*?(?=\n## |\Z)", re.DOTALL)
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the 'Sandbox overhead' section of this file")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of evaluations")
    args = parser.parse_args()
    warm = LocalExecutor("A")
    cold = ColdProcessExecutor()

    def n(k: int) -> int:
        return max(3, int(k * args.scale))

    try:
        rows = {"a": measure(in_process, n(5000)), "b": measure(make_sandboxed(cold), n(40)),
                "c": measure(make_cold_isolated(), n(20)), "d": measure(make_sandboxed(warm), n(500))}
    finally:
        warm.close()
    body = table(rows)
    print(body)
    if args.write:
        write_section(args.write, body, "python benchmarks/sandbox_overhead.py --write docs/benchmarks.md")


if __name__ == "__main__":
    main()
