"""Host CPU of judging one hostile frame, before and after the linear checks (issue 22); and the host's peak
memory of a run whose improver sends a 6 MB program to ``meta_utility``, against a benign run.

Frames: each hostile body goes through ``frames.decode`` (the whole host-side check and decode of a
frame) in this process, timed with ``time.process_time``; "before" is ``frames.py`` as of ``--before``
(git), loaded beside the current one. The quadratic scan made the 8 MB frames unmeasurable (the 64 KB
figure times 128^2): those are skipped before and their extrapolation printed instead.

Runs: ``selftaught`` runs with a SCRIPTED model (max_list, seed improver shape, 1 iteration), each in a
fresh host process; peak RSS of the host process (``VmHWM``; sandboxed children are not counted).

Run by hand (not a test):
    PYTHONPATH=src .venv/bin/python benchmarks/hostile_frame_cost.py [--repeats 5] [--write benchmarks/hostile_frame_cost.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

from selftaught.sandbox import frames

ROOT = Path(__file__).resolve().parents[1]
HEAD = b'{"op":"result","ok":true,"value":'
DEEP = HEAD + b"[" * 101
CAP = frames.MAX_BODY - 200


def bodies(size: int) -> dict[str, bytes]:
    """Hostile frame bodies of about ``size`` bytes (the shapes of tests/unit/test_frames.py)."""
    return {
        "unterminated string of \\\"": DEEP + b'"' + b'\\"' * (size // 2),
        "only quotes": DEEP + b'"' * size,
        "one-bracket strings": HEAD + b'"[' * (size // 2),
        "escaped backslashes, quotes, brackets": DEEP + b'"\\\\"[' * (size // 5),
        "lone surrogates": DEEP + b'"' + b"\\ud800" * (size // 6),
        "legal: 5 MB string of brackets": HEAD + b'"' + b"[{," * min(size // 3, 1_700_000) + b'"}',
    }


def old_frames(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:src/selftaught/sandbox/frames.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("frames_before")
    exec(compile(source, f"frames.py@{rev}", "exec"), module.__dict__)
    return module


def cpu(decode: Callable[[bytes], object], body: bytes, repeats: int) -> str:
    """Median host CPU seconds of decoding ``body``, and what came of it (decoded, or the verdict)."""
    times, outcome = [], "decoded"
    for _ in range(repeats):
        began = time.process_time()
        try:
            decode(body)
        except Exception as exc:  # noqa: BLE001 - FrameError of either version
            outcome = str(getattr(exc, "verdict", type(exc).__name__))
        times.append(time.process_time() - began)
    return f"{statistics.median(times):.4f} ({outcome})"


RUN = """
import json, sys, tempfile
from pathlib import Path
from selftaught.config import load_config
from selftaught.engine.runner import start_run
from selftaught.models.scripted import ScriptedModel
from selftaught.store import RunStore
GOOD = "```python\\ndef algorithm(xs):\\n    return max(xs)\\n```\\n"
with tempfile.TemporaryDirectory() as tmp:
    improver = Path(tmp) / "improver.py"
    improver.write_text(sys.stdin.read())
    cfg = load_config(overrides={"task": "max_list", "improver": str(improver), "iterations": 1,
                                 "model.provider": "scripted", "budget.meta_utility_tests": 2,
                                 "budget.improver_seconds": 60.0})
    result = start_run(cfg, provider=ScriptedModel(responder=lambda r: GOOD), run_dir=Path(tmp) / "run")
    step = RunStore(result.run_dir).iterations()[1]
    stored = sum(f.stat().st_size for f in (Path(tmp) / "run").rglob("*") if f.is_file())
    # VmHWM, not ru_maxrss: ru_maxrss survives fork and exec, so a child reports its parent's peak
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"peak_mb": hwm / 1024,
                      "verdict": step.verdict, "stored_mb": stored / 2**20}))
"""

#: Improvers run as the starting improver of a 1-iteration run: in the meta step, ``utility`` is the
#: meta-utility. Both send what they send on every call of their budget.
IMPROVERS = {
    "benign: its own source": (
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    scores = [utility(initial_solution) for _ in range(utility.budget)]\n"
        "    return initial_solution\n"),
    "hostile: a 6 MB program": (
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    huge = initial_solution + '\\n# ' + 'x' * (6 << 20) + '\\n'\n"
        "    scores = [utility(huge) for _ in range(utility.budget)]\n"
        "    return initial_solution\n"),
}


def run(source: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", RUN], input=source, capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=900, check=False)
    if out.returncode != 0:
        raise SystemExit(f"run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default="e94d2b2", help="git revision of the quadratic frames.py")
    parser.add_argument("--write", type=Path, help="write the tables to this markdown file")
    args = parser.parse_args()
    before = old_frames(args.before)
    lines = ["# Host cost of hostile frames and oversized programs (issue 22)", "",
             (f"Measured with `PYTHONPATH=src python benchmarks/hostile_frame_cost.py --repeats {args.repeats} "
             f"--write {args.write or 'FILE'}` on {time.strftime('%Y-%m-%d')} (load average "
             f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} cores). Host CPU of `frames.decode` on one frame, "
             f"median of {args.repeats} (the quadratic one before: 1 run), and what came of it (before: frames.py "
             f"at `{args.before}`, which refused the legal 5 MB answer)."), "",
             "| frame | 64 KB before: s (outcome) | 64 KB after | 8 MB before | 8 MB after |",
             "|---|---:|---:|---:|---:|"]
    small, large = bodies(64 * 1024), bodies(CAP)
    for name in small:
        quadratic = name.startswith("unterminated")
        b64 = cpu(before.decode, small[name], 1 if quadratic else args.repeats)
        a64 = cpu(frames.decode, small[name], args.repeats)
        a8 = cpu(frames.decode, large[name], args.repeats)
        seconds64 = float(b64.split()[0])
        b8 = (f"~{seconds64 * (len(large[name]) / len(small[name])) ** 2:,.0f} (extrapolated: x128^2)" if quadratic
              else cpu(before.decode, large[name], args.repeats))
        lines.append(f"| {name} | {b64} | {a64} | {b8} | {a8} |")
        print(lines[-1], flush=True)
    lines += ["", "Targets: 64 KB < 0.05 s, 8 MB < 2 s of host CPU.", "",
              "## A run whose improver sends a 6 MB program to meta_utility", "",
              ("One `selftaught` run each (max_list, 1 iteration, scripted model), a fresh host process; peak RSS "
              "(VmHWM) of the host process and the size of the run's store."), "",
              "| improver | step verdict | host peak RSS (MB) | x benign | store (MB) |", "|---|---|---:|---:|---:|"]
    rows = {name: run(src) for name, src in IMPROVERS.items()}
    base = rows["benign: its own source"]["peak_mb"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['verdict']} | {r['peak_mb']:.0f} | {r['peak_mb'] / base:.2f} | "
                     f"{r['stored_mb']:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", ("Target: a 6 MB meta-utility argument is a verdict at the cap (score 0, counted), host peak "
              "memory within 2x a benign run. Before: one 6 MB call cost 3.85 GB and 382 s (issue 22).")]
    if args.write:
        args.write.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
