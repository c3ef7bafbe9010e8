"""Benchmark (e): what one solution evaluation costs through the Ray executor, against the local one.

    .venv/bin/python benchmarks/ray_overhead.py [--repeats 40] [--instances 20] [--ray-address ADDRESS]

One evaluation is what scoring a solution asks of an executor: spawn a sandboxed worker, load the
program, call it once per instance, close the worker. The program is trivial (``max`` of a short list),
so the time measured is the executor's own: handing out a warm sandbox, the load and the calls, and on
Ray the host -> node actor -> worker hop of each. Evaluations alternate between the executors (local,
Ray, local, ...) after a warm-up, one at a time; figures are medians. Without ``--ray-address`` a
one-node Ray is started on 127.0.0.1; with it, the executor joins that cluster and places each worker on
the node with the lowest load per CPU (one at a time: the first node, unless it is busy with other work).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from selftaught.sandbox import Executor, Limits
from selftaught.sandbox.local import LocalExecutor
from selftaught.sandbox.ray_executor import RayExecutor

PROGRAM = "def algorithm(xs):\n    return max(xs)\n"


def evaluation_seconds(executor: Executor, instances: int) -> float:
    started = time.perf_counter()
    with executor.spawn(Limits(wall_seconds=30)) as worker:
        assert worker.load(PROGRAM).ok
        for i in range(instances):
            res = worker.call("algorithm", [[i, 3, 1, 2]])
            assert res.ok and res.value == max(i, 3), res
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    local = LocalExecutor()
    on_ray = RayExecutor(ray_address=args.ray_address)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        for _ in range(3):  # warm-up: zygotes on the host and on the nodes
            evaluation_seconds(local, args.instances)
            evaluation_seconds(on_ray, args.instances)
        for _ in range(args.repeats):
            times["local"].append(evaluation_seconds(local, args.instances))
            times["ray"].append(evaluation_seconds(on_ray, args.instances))
        nodes, tier = len(on_ray.nodes), on_ray.tier
    finally:
        on_ray.close()
        local.close()
    lo, ry = statistics.median(times["local"]), statistics.median(times["ray"])
    print(f"load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print("| benchmark | Ray nodes | local (median) | Ray (median) | Ray - local | per call on Ray |")
    print("|---|---|---|---|---|---|")
    per_call = (ry - lo) / (args.instances + 2) * 1e3  # the load and the close are round trips too
    print(f"| (e) one evaluation: spawn, load, {args.instances} calls, close ({tier}) | {nodes} | "
          f"{lo * 1e3:.1f} ms | {ry * 1e3:.1f} ms | {(ry - lo) * 1e3:.1f} ms ({ry / lo:.1f}x) | "
          f"+{per_call:.2f} ms |")


if __name__ == "__main__":
    main()
