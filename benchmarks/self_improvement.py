"""Benchmark: does the quick start really self-improve? The quick start over K run seeds, on the real
embedded model.

    .venv/bin/python benchmarks/self_improvement.py --seeds 10 [--config examples/quickstart.toml]
        [--set model.n_threads=1] [--results benchmarks/results/self_improvement.jsonl]
        [--write benchmarks/results/self_improvement.md]

For each seed it runs ``selftaught run --config CONFIG --set seed=S`` in-process and reads the run's
store: how many improvers were adopted, the paired difference of I_T over I_0 on the final comparison's
fresh paired runs (held-out test: mean, 95% bootstrap CI, wins/losses/ties, paired permutation test p),
and the gain at matched model cost (I_0 best of k runs by validation, k = I_T's replies per run over
I_0's). Run seeds are independent replicates: the seed enters every model sampling seed (with the
machine's held-out key), so no two seeds share a model draw. It reports the share of runs whose I_T
beats I_0 at p < 0.05 (positive mean), the mean gain and the wall time
per run, with the load average before and after each run (the machine is shared: wall time depends on it)
and the CPU time of the run's own process (the embedded model decodes in it), which is close to the wall
time the run would take on an idle machine.
Each finished seed is appended to ``--results`` at once, so an interrupted benchmark resumes where it
stopped (seeds already there are not run again).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from selftaught.analysis.paired import comparisons, final_matched_cost, format_p
from selftaught.config import load_config
from selftaught.engine.runner import start_run
from selftaught.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


def one_seed(config_path: Path, seed: int, runs_dir: Path, sets: list[str]) -> dict[str, Any]:
    """Run the quick start with run seed ``seed``; what the store says about its self-improvement."""
    config = load_config(config_path, sets=[*sets, f"seed={seed}", f'runs_dir="{runs_dir}"'])
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    result = start_run(config)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store = RunStore(result.run_dir)
    try:
        its = store.iterations()
        final = [c for c in comparisons(store) if c.draws == "final"]
        matched = final_matched_cost(store)
        keys = [c.key for c in store.completions()]
    finally:
        store.close()
    row: dict[str, Any] = {
        "seed": seed, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "load_before": load_before, "load_after": os.getloadavg()[0],
        "adopted": sum(it.adopted for it in its[1:]), "I_0": its[0].improver_hash[:10],
        "I_T": its[-1].improver_hash[:10], "model_calls_sent": result.model_calls_sent,
        "model_calls_replayed": result.model_calls_replayed, "run_dir": str(result.run_dir),
        "adoption_notes": [f"t={it.iteration}: {it.error}" for it in its[1:] if it.adopted],
        "replay_keys": keys,
    }
    if matched is not None:
        row.update(matched_k=round(matched.k, 2), matched_baseline=matched.baseline, matched_gain=matched.gain,
                   matched_low=matched.low, matched_high=matched.high)
    if final:
        d = final[0].test
        row.update(n=d.n, gain=d.mean, low=d.low, high=d.high, wins=d.wins, losses=d.losses, p=d.p)
    else:
        row.update(n=0, gain=0.0, low=0.0, high=0.0, wins=0, losses=0, p=1.0)
    return row


def summary(rows: list[dict[str, Any]], config_path: Path, sets: list[str], requested: int) -> str:
    k = len(rows)
    wins = [r for r in rows if r["p"] < 0.05 and r["gain"] > 0]
    adopted = [r for r in rows if r["adopted"]]
    twice = [r for r in rows if r["adopted"] >= 2]
    shared = _shared_keys(rows)
    walls = [r["wall_seconds"] for r in rows]
    lines = [
        "# Self-improvement benchmark (the quick start over K run seeds)",
        "",
        f"Command: `.venv/bin/python benchmarks/self_improvement.py --seeds {requested} --config "
        f"{config_path.relative_to(ROOT) if config_path.is_relative_to(ROOT) else config_path}"
        + "".join(f" --set {s}" for s in sets) + "`, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores shared with other jobs (load average per run below). "
        f"Seeds finished: {', '.join(str(r['seed']) for r in rows)} ({k} of {requested}).",
        "",
        f"- runs that adopted at least one improver: **{len(adopted)} of {k}**; at least two: **{len(twice)} of {k}**",
        (f"- runs whose I_T beats I_0 on the paired held-out test at p < 0.05 (paired permutation test over the "
        f"final comparison's fresh runs): **{len(wins)} of {k}**"),
        (f"- mean paired held-out gain of I_T over I_0: **{statistics.fmean(r['gain'] for r in rows):+.3f}**; "
        f"at matched model cost (I_0 best of k runs by validation): "
        f"**{statistics.fmean(r.get('matched_gain', 0.0) for r in rows):+.3f}**"),
        (f"- independent replicates: model replay keys shared by two seeds: **{shared}** "
        f"(of {sum(len(r.get('replay_keys', [])) for r in rows)} replies)"),
        (f"- wall time per run: median **{statistics.median(walls):.0f} s** (min {min(walls):.0f}, max {max(walls):.0f}) "
        f"at the load averages below; CPU time of the run's process (the model decodes in it, on every core "
        f"it finds free): median "
        f"**{statistics.median(r['cpu_seconds'] for r in rows):.0f} s**"),
        "",
        ("| seed | adopted | I_0 -> I_T | n | test gain [95% CI] | wins/losses | p | matched-cost gain (k) "
        "| wall s | CPU s | load before/after |"),
        "|---:|---:|---|---:|---|---|---:|---|---:|---:|---|",
    ]
    for r in rows:
        matched = (f"{r['matched_gain']:+.3f} [{r['matched_low']:+.3f}, {r['matched_high']:+.3f}] "
                   f"({r['matched_k']:.1f})" if "matched_gain" in r else "")
        lines.append(f"| {r['seed']} | {r['adopted']} | {r['I_0']} -> {r['I_T']} | {r['n']} | {r['gain']:+.3f} "
                     f"[{r['low']:+.3f}, {r['high']:+.3f}] | {r['wins']}/{r['losses']} | {format_p(r['p'])} | "
                     f"{matched} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['load_before']:.1f} / "
                     f"{r['load_after']:.1f} |")
    notes = [f"- seed {r['seed']}: " + "; ".join(r["adoption_notes"]) for r in rows if r.get("adoption_notes")]
    if notes:
        lines += ["", "Adoptions (each confirmed on fresh paired runs; its p-value is a screen's, see README):", *notes]
    return "\n".join(lines) + "\n"


def _shared_keys(rows: list[dict[str, Any]]) -> int:
    """Replay keys that occur in more than one seed's run: 0 when the seeds are independent replicates."""
    seen: dict[str, int] = {}
    for r in rows:
        for key in set(r.get("replay_keys", [])):
            seen[key] = seen.get(key, 0) + 1
    return sum(1 for n in seen.values() if n > 1)


def _done(results: Path) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in map(json.loads, results.read_text().splitlines())} if results.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="run seeds 0..K-1")
    parser.add_argument("--start", type=int, default=0, help="first seed to run (split K seeds over processes "
                        "sharing one --results file)")
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "quickstart.toml")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "self_improvement.jsonl")
    parser.add_argument("--write", type=Path, default=None, help="also write the summary (Markdown) here")
    parser.add_argument("--summary-only", action="store_true", help="run nothing: summarise the seeds in --results")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as for selftaught run (e.g. model.n_threads=1)")
    args = parser.parse_args()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = _done(args.results)
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-self-improvement-"))
    for seed in range(args.start, args.seeds):
        if seed in done or args.summary_only:
            continue
        row = one_seed(args.config.resolve(), seed, runs_dir, args.sets)
        done[seed] = row
        with args.results.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "replay_keys"}), flush=True)
    done = _done(args.results)  # with what other processes added meanwhile
    text = summary([done[s] for s in sorted(done) if s < args.seeds], args.config.resolve(), args.sets, args.seeds)
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
