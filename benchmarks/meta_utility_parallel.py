"""Benchmark (a): one meta-utility evaluation, serial vs parallel, replayed model responses.

    .venv/bin/python benchmarks/meta_utility_parallel.py [--repeats 3]

Paper budgets (5 improver runs, 6 replies each): recorded once, then replayed from the cache alone with
``sandbox.parallel=1, cpus=1`` (serial) and ``parallel=auto, cpus=auto`` (all runs in flight, one
sandboxed program per core). Target: speed-up >= 1.7x on 2 cores. Prints a Markdown table row.

What is timed is the first meta-utility evaluation of a run, with a cold pool: the parallel run has to
start the sandboxes it keeps open (one per improver run plus one per core, ~0.1 s of CPU each; the
serial run needs two), which a longer run pays once, not per evaluation. Each instance burns ~15 ms of
CPU (``BURN`` in ``_common.py``, recalibrated: the old constant burnt ~3.4 ms while documented as ~15 ms,
so host and start-up costs, not sandboxed work, decided the ratio). ``--burn 150000`` runs the old,
lighter workload for comparison.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import _common
from _common import machine_cpus_text, median, meta_evaluation_seconds, record

SERIAL = ["sandbox.parallel=1", "sandbox.cpus=1"]
PARALLEL = ["sandbox.parallel='auto'", "sandbox.cpus='auto'"]


def main() -> None:
    args = _common.parse_args(__doc__)
    work = Path(tempfile.mkdtemp(prefix="bench-mu-"))
    record(work / "recorded")
    serial, parallel = [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        serial.append(meta_evaluation_seconds(work / "recorded", work / "replay", SERIAL))
        parallel.append(meta_evaluation_seconds(work / "recorded", work / "replay", PARALLEL))
    s, p = median(serial), median(parallel)
    print(f"serial runs: {', '.join(f'{x:.2f}' for x in serial)} s; parallel: {', '.join(f'{x:.2f}' for x in parallel)} s")
    print("| benchmark | cores | serial (median) | parallel (median) | speed-up | target |")
    print("|---|---|---|---|---|---|")
    print(f"| (a) meta-utility, 5 runs x 6 replies, replayed | {machine_cpus_text()} | {s:.2f} s | {p:.2f} s | "
          f"{s / p:.2f}x | >= 1.7x |")


if __name__ == "__main__":
    main()
