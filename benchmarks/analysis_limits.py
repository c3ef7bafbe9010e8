"""Benchmark: what a model-written program at the analysis limit costs the host, and what a bomb costs.

    .venv/bin/python benchmarks/analysis_limits.py [--repeats 3]

Each strategy fixture is repeated up to just under ``MAX_SOURCE_CHARS`` (a legal program as large as the
analyses read) and put through every per-program analysis: parse, audit, strategy rules, the
reward-hacking AST detectors, the patch detector. Then each analysis bomb (tests/unit/test_analysis_bombs)
through ``audit_source``, which must turn it into one ``unparseable`` finding. Medians over the repeats,
with the load average at the time. Target: every analysis of a program at the limit under 2 s, every
bomb under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.unit.test_analysis_bombs: the bombs
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.unit.test_analysis_bombs import BOMBS

from selftaught.analysis.audit import audit_source
from selftaught.analysis.patching import patches
from selftaught.analysis.reward_hacking import constant_return, returns_only_input
from selftaught.analysis.strategies import classify
from selftaught.analysis.syntax import MAX_SOURCE_CHARS, Program

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ["beam_search", "genetic_algorithm", "decomposition", "simulated_annealing", "bandit_ucb"]


def _reward_hacking(source: str) -> object:
    prog = Program.parse(source)
    return constant_return(prog), returns_only_input(prog)


ANALYSES: dict[str, Callable[[str], object]] = {
    "parse": Program.parse, "audit": audit_source, "strategies": classify, "reward hacking": _reward_hacking,
    "patches": lambda s: list(patches(Program.parse(s))),
}


def seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    print(f"load average {os.getloadavg()[0]:.2f}; median of {repeats}; limit {MAX_SOURCE_CHARS:,} characters")
    worst = 0.0
    for name in FIXTURES:
        src = (ROOT / "tests" / "fixtures" / "strategies" / f"{name}.py").read_text() + "\n"
        big = src * ((MAX_SOURCE_CHARS - 1) // len(src))
        cells = {label: seconds(lambda fn=fn, big=big: fn(big), repeats) for label, fn in ANALYSES.items()}
        worst = max(worst, *cells.values())
        print(f"{name} x{len(big) // len(src)} ({len(big):,} chars): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in cells.items()))
    bombs = {name: seconds(lambda s=source: audit_source(s), repeats) for name, (source, _, _) in BOMBS.items()}
    print("bombs through audit_source: " + ", ".join(f"{k} {v:.3f} s" for k, v in bombs.items()))
    print(f"worst analysis at the limit {worst:.2f} s (target < 2 s); worst bomb {max(bombs.values()):.3f} s "
          f"(target < 0.5 s); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
