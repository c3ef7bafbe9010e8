"""Host cost of hostile answers: peak host memory and host CPU of one utility call, hostile vs benign.

Each program is scored once on ``max_list`` validation (20 instances) through the real scorer, sandbox
and store, in a fresh host process, so its peak RSS (``ru_maxrss``) and CPU time (the host's own, not
the sandboxed child's) belong to that one utility call. The target (issue 10): no hostile answer costs
the host more than 2x the memory of a benign call, and none is charged to nobody (each is refused before
it is built).

Run by hand (not a test):  .venv/bin/python benchmarks/hostile_host_cost.py [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAMS = {
    "benign (max)": "def algorithm(xs):\n    return max(xs)\n",
    "15 MB of empty dicts": "def algorithm(xs):\n    return [{}] * 5_000_000\n",
    "1.9M ints": "def algorithm(xs):\n    return [0] * 1_900_000\n",
    "490,000 floats (legal)": "def algorithm(xs):\n    return [0.5] * 490_000\n",
    "99,000 empty dicts (legal)": "def algorithm(xs):\n    return [{}] * 99_000\n",
    "7.9 MB string (legal)": "def algorithm(xs):\n    return 'x' * 7_900_000\n",
    "nested 200,000 deep (raw frame)": (
        "import gc, struct\n"
        "def algorithm(xs):\n"
        "    guest = next(o for o in gc.get_objects() if type(o).__name__ == 'Guest')\n"
        "    body = b'{\"op\": \"result\", \"ok\": true, \"value\": ' + b'[' * 200_000 + b']' * 200_000 + b'}'\n"
        "    guest.chan_out.write(struct.pack('>I', len(body)) + body)\n"
        "    guest.chan_out.flush()\n"
        "    return 0\n"),
    "15 MB string": "def algorithm(xs):\n    return 'x' * (15 << 20)\n",
    "huge int": "def algorithm(xs):\n    return 10 ** 4000\n",
}

CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from selftaught.engine.utility import SolutionScorer
from selftaught.sandbox.local import LocalExecutor
from selftaught.store import RunStore
from selftaught.tasks.registry import load_task
sys.setrecursionlimit(10_000)  # json.dumps of the nested answer in the guest; the host needs none
task, source = load_task("max_list"), sys.stdin.read()
ex = LocalExecutor(pool_size=1)
with tempfile.TemporaryDirectory() as tmp:
    store = RunStore(Path(tmp), create=True)
    scorer = SolutionScorer(ex, store, 0)
    scorer.evaluate(task, "def algorithm(xs):\\n    return xs[0]\\n", "val")  # warm everything up
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.process_time()
    rec = scorer.evaluate(task, source, "val")
    cpu = time.process_time() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"peak_mb": after.ru_maxrss / 1024, "host_cpu": cpu, "score": rec.score,
                      "verdicts": sorted({i.verdict for i in rec.instances})}))
ex.close()
"""


def measure(source: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD], input=source, capture_output=True, text=True,
                         cwd=ROOT, timeout=600, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: dict[str, dict]) -> str:
    base = rows["benign (max)"]["peak_mb"]
    lines = ["| answer | verdicts | host peak RSS (MB) | x benign | host CPU (s) |", "|---|---|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {', '.join(r['verdicts'])} | {r['peak_mb']:.0f} | {r['peak_mb'] / base:.2f} "
                     f"| {r['host_cpu']:.2f} |")
    worst = max(r["peak_mb"] / base for r in rows.values())
    lines += ["", f"- worst host memory of one utility call: **{worst:.2f}x** a benign call (target < 2x)"]
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    section = (f"## Host cost of hostile answers\n\nMeasured with `python benchmarks/hostile_host_cost.py "
               f"--write docs/benchmarks.md` ({time.strftime('%Y-%m-%d')}; load average "
               f"{os.getloadavg()[0]:.1f}). One utility call = the real scorer on 20 `max_list` validation "
               "instances in a fresh host process; memory is the host process's peak RSS, CPU the host's "
               "own (the sandboxed child's is not counted).\n\n" + body + "\n")
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## Host cost of hostile answers\n.*?(?=\n## |\Z)", re.DOTALL)
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the 'Host cost of hostile answers' section")
    args = parser.parse_args()
    rows = {name: measure(source) for name, source in PROGRAMS.items()}
    body = table(rows)
    print(body)
    if args.write:
        write_section(args.write, body)


if __name__ == "__main__":
    main()
