"""Benchmark (d): the same meta-utility evaluation on a local Ray cluster vs the local executor.

    .venv/bin/python benchmarks/ray_vs_local.py [--repeats 3] [--ray-address ADDRESS]

Workload and replay as in benchmark (a) (paper budgets, replayed model responses, parallel). Without
``--ray-address`` a one-node Ray cluster is started on 127.0.0.1 with this machine's cores; the time to
start Ray is not counted (a cluster is long-lived). What it measures is the cost of the Ray hop: every
load, call and RPC of every sandboxed program goes host -> actor -> worker and back.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import ray
from _common import machine_cpus_text, median, meta_evaluation_seconds, record

PARALLEL = ["sandbox.parallel='auto'", "sandbox.cpus='auto'"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    if args.ray_address:
        ray.init(address=args.ray_address, log_to_driver=False)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    record(work / "recorded")
    local, on_ray = [], []
    for _ in range(args.repeats):
        local.append(meta_evaluation_seconds(work / "recorded", work / "replay", [*PARALLEL, "sandbox.executor='local'"]))
        on_ray.append(meta_evaluation_seconds(work / "recorded", work / "replay", [*PARALLEL, "sandbox.executor='ray'"]))
    lo, ry = median(local), median(on_ray)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    ray.shutdown()
    print(f"local: {', '.join(f'{x:.2f}' for x in local)} s; ray: {', '.join(f'{x:.2f}' for x in on_ray)} s")
    print("| benchmark | cores (host / cluster) | local executor (median) | Ray executor (median) | Ray / local |")
    print("|---|---|---|---|---|")
    print(f"| (d) meta-utility, 5 runs x 6 replies, replayed, parallel | {machine_cpus_text()} / {cpus} | "
          f"{lo:.2f} s | {ry:.2f} s | {ry / lo:.2f}x |")


if __name__ == "__main__":
    main()
