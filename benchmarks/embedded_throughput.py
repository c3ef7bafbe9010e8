"""Benchmark: the embedded model's throughput, every ratio measured side by side in one run.

    .venv/bin/python benchmarks/embedded_throughput.py [--repeats 3] [--tokens 128] [--quickstart]
        [--out benchmarks/embedded_throughput.md]

Each round measures every case once, back to back (so a load change from other jobs hits all cases of
a round alike); the table gives medians over rounds, per-round ratios, and the load average around
each section. Cases, all on the same GGUF (SmolLM2-135M Q4_1) and the same prompt (the seed improver's
source under an "improve this code" instruction, about 700 tokens, as at a run's meta level):

- n replies to one prompt, n = 1, 2, 6: one by one (``complete`` n times) against sampled together
  (``complete_shared``), 1 thread;
- the provider against raw llama-cpp-python (``Llama.create_chat_completion`` after ``reset``, which
  is how the provider drove it before batching): n = 6 one by one, 1 thread;
- 1 and 2 llama.cpp threads and the default (unset: chosen per decode step from the free cores), 6 replies
  together, with no job of ours and beside a CPU-bound sandboxed program (a real sandboxed worker of the
  local executor spinning for the whole measurement);
- with ``--quickstart``: the wall time and completion tokens of ``selftaught run --config
  examples/quickstart.toml`` with default settings (a fresh run directory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from selftaught.improvers import improver_source  # noqa: E402
from selftaught.models.base import ChatRequest  # noqa: E402
from selftaught.models.embedded import EmbeddedModel, default_gguf_path  # noqa: E402

SYSTEM = "You are an expert computer science researcher and programmer, especially skilled at optimizing algorithms."
BURN = "import time\ndef burn(seconds):\n    end = time.time() + seconds\n    while time.time() < end:\n        pass\n    return 0\n"


def prompt() -> str:
    code = improver_source("seed")[0]
    return (f"Improve the following Python code so that it returns better solutions.\n\n```python\n{code}```\n\n"
            "Reply with the improved code in one python code block.")


def request(tokens: int, seed: int = 0) -> ChatRequest:
    return ChatRequest(model="embedded", system=SYSTEM, user=prompt(), temperature=0.7, max_tokens=tokens,
                       seed=seed)


def load() -> float:
    return os.getloadavg()[0]


def timed(fn: Callable[[], int]) -> float:
    """tokens/s of ``fn``, which returns the completion tokens it generated."""
    started = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - started)


def sequential(model: EmbeddedModel, n: int, tokens: int) -> int:
    return sum(model.complete(request(tokens, seed)).completion_tokens for seed in range(n))


def batched(model: EmbeddedModel, n: int, tokens: int) -> int:
    return sum(c.completion_tokens for c in model.complete_shared([request(tokens, s) for s in range(n)]))


def raw_sequential(llm: object, n: int, tokens: int) -> int:
    req, total = request(tokens), 0
    for seed in range(n):
        llm.reset()  # type: ignore[attr-defined]
        resp = llm.create_chat_completion(  # type: ignore[attr-defined]
            messages=req.messages(), temperature=req.temperature, max_tokens=tokens, seed=seed)
        total += resp["usage"]["completion_tokens"]
    return total


@contextmanager
def sandboxed_burn() -> Iterator[None]:
    """A real sandboxed worker spinning on one core until the block ends."""
    from selftaught.sandbox.limits import Limits
    from selftaught.sandbox.local import LocalExecutor

    executor, stop = LocalExecutor(), threading.Event()

    def spin() -> None:
        with executor.spawn(Limits(wall_seconds=30)) as worker:
            worker.load(BURN)
            while not stop.is_set():
                worker.call("burn", [2.0])

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    time.sleep(1.0)  # the worker is started and spinning
    try:
        yield
    finally:
        stop.set()
        thread.join()
        executor.close()


def summary(name: str, rates: list[float], loads: list[float]) -> str:
    return (f"| {name} | {statistics.median(rates):.1f} | {min(rates):.1f}-{max(rates):.1f} | "
            f"{min(loads):.2f}-{max(loads):.2f} |")


def ratio(name: str, num: list[float], den: list[float]) -> str:
    rs = [a / b for a, b in zip(num, den)]
    return f"| {name} | **{statistics.median(rs):.2f}x** | {min(rs):.2f}-{max(rs):.2f} |"


def batching_section(args: argparse.Namespace, lines: list[str]) -> None:
    from llama_cpp import Llama

    model = EmbeddedModel(n_threads=1)
    llm = Llama(model_path=str(default_gguf_path()), n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
    rates: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}
    model.complete(request(1))  # every provider case below reuses the prompt's KV state, as in a run
    cases: dict[str, Callable[[], int]] = {"raw llama-cpp-python, 6 one by one": lambda: raw_sequential(
        llm, 6, args.tokens)}
    for n in (1, 2, 6):
        cases[f"provider, {n} one by one"] = lambda n=n: sequential(model, n, args.tokens)
        cases[f"provider, {n} together"] = lambda n=n: batched(model, n, args.tokens)
    for _ in range(args.repeats):
        for name, fn in cases.items():
            loads.setdefault(name, []).append(load())
            rates.setdefault(name, []).append(timed(fn))
            print(f"  {name}: {rates[name][-1]:.1f} tokens/s (load {loads[name][-1]:.2f})", flush=True)
    model.close()
    llm.close()
    lines += ["## n replies to one prompt, 1 thread", "",
              ("Provider cases reuse the prompt's KV state from the call before (a warm-up call makes it so from "
              "the first round); raw llama-cpp-python decodes the prompt for every reply, as the provider did "
              "before batching."), "",
              "| case | tokens/s (median) | range | load average |", "|---|---|---|---|"]
    lines += [summary(name, rates[name], loads[name]) for name in cases]
    lines += ["", "| ratio (per round) | median | range |", "|---|---|---|"]
    for n in (2, 6):
        lines.append(ratio(f"{n} together / {n} one by one", rates[f"provider, {n} together"],
                           rates[f"provider, {n} one by one"]))
    lines.append(ratio("6 together / raw llama-cpp-python 6 one by one", rates["provider, 6 together"],
                       rates["raw llama-cpp-python, 6 one by one"]))
    lines.append(ratio("provider 6 one by one / raw 6 one by one", rates["provider, 6 one by one"],
                       rates["raw llama-cpp-python, 6 one by one"]))
    lines.append(ratio("provider 1 / raw 6 one by one", rates["provider, 1 one by one"],
                       rates["raw llama-cpp-python, 6 one by one"]))
    lines.append("")


def threads_section(args: argparse.Namespace, lines: list[str]) -> None:
    """Fixed 1 and 2 threads, and the default (unset: the count chosen per step from the free cores)."""
    models: dict[str, EmbeddedModel] = {"1 thread": EmbeddedModel(n_threads=1),
                                        "2 threads": EmbeddedModel(n_threads=2),
                                        "default (unset)": EmbeddedModel()}
    for m in models.values():
        m.complete(request(1))
    rates: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}
    steps: dict[str, dict[int, int]] = {}
    for _ in range(args.repeats):
        for busy in (False, True):
            for label, m in models.items():
                name = f"{label}, {'beside a sandboxed CPU-bound job' if busy else 'no sandboxed job'}"
                before = m.threads_used()
                with sandboxed_burn() if busy else _nothing():
                    loads.setdefault(name, []).append(load())
                    rates.setdefault(name, []).append(timed(lambda m=m: batched(m, 6, args.thread_tokens)))
                used = steps.setdefault(name, {})
                for n, k in m.threads_used().items():
                    used[n] = used.get(n, 0) + k - before.get(n, 0)
                print(f"  {name}: {rates[name][-1]:.1f} tokens/s (load {loads[name][-1]:.2f})", flush=True)
    for m in models.values():
        m.close()
    lines += [f"## llama.cpp threads, 6 replies together, at most {args.thread_tokens} tokens each", "",
              ("The default picks the thread count before every decode step from the cores other processes "
               "left free over the last 0.2 s (`models/cpu_share.py`); its column says how many steps ran "
               "at each count."), "",
              "| case | tokens/s (median) | range | load average | steps at 1, 2 threads |",
              "|---|---|---|---|---|"]
    lines += [summary(name, rates[name], loads[name])
              + (f" {steps[name].get(1, 0)}, {steps[name].get(2, 0)} |" if steps[name] else " |")
              for name in rates]
    lines += ["", "| ratio (per round) | median | range |", "|---|---|---|"]
    for where in ("no sandboxed job", "beside a sandboxed CPU-bound job"):
        lines += [ratio(f"2 threads / 1 thread, {where}", rates[f"2 threads, {where}"],
                        rates[f"1 thread, {where}"]),
                  ratio(f"default / 1 thread, {where}", rates[f"default (unset), {where}"],
                        rates[f"1 thread, {where}"])]
    lines.append("")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def cpu_burners(n: int) -> Iterator[None]:
    """``n`` CPU-bound processes outside any sandbox: other jobs on the same machine."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def quickstart(src: Path, sets: list[str], label: str) -> tuple[str, float]:
    """(table row, completion tokens per wall second): the quick start of the tree above ``src`` (its code
    and its examples/quickstart.toml) in a fresh run directory."""
    import sqlite3

    runs = Path(tempfile.mkdtemp(prefix="bench-quickstart-"))
    before = load()
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-m", "selftaught.cli.main", "run", "--config",
                    str(src.parent / "examples/quickstart.toml"), "--set", f"runs_dir={str(runs)!r}",
                    *[a for s in sets for a in ("--set", s)]], check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - started
    (run_dir,) = [p for p in runs.iterdir() if (p / "run.sqlite").exists()]
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        calls, tokens = db.execute("SELECT COUNT(*), SUM(completion_tokens) FROM completions").fetchone()
    what = f"{label}: {src}" + (f" {' '.join(sets)}" if sets else " (defaults)")
    row = f"| {what} | {wall:.0f} s | {calls} | {tokens} | {tokens / wall:.1f} | {before:.2f}, {load():.2f} |"
    print("  " + row, flush=True)
    return row, tokens / wall


def quickstart_section(args: argparse.Namespace, lines: list[str]) -> None:
    """Per round: this tree's quick start with default settings; with ``--baseline-src``, an older tree
    (``git archive <commit> src examples``) with ``--baseline-set`` overrides; with ``--beside N``, this
    tree again beside N CPU-bound processes."""
    rows, rates = [], {}
    for _ in range(args.quickstart_repeats):
        cases = [("this tree", ROOT / "src", [], 0)]
        if args.baseline_src:
            cases.append(("baseline", args.baseline_src, args.baseline_set or [], 0))
        if args.beside:
            cases.append((f"this tree beside {args.beside} CPU-bound processes", ROOT / "src", [], args.beside))
        for label, src, sets, burners in cases:
            with cpu_burners(burners):
                row, rate = quickstart(src, sets, label)
            rows.append(row)
            rates.setdefault(label, []).append(rate)
    lines += ["## Quick start", "",
              ("| source, settings | wall | completions | completion tokens | tokens per wall second | "
               "load average before, after |"), "|---|---|---|---|---|---|", *rows, ""]
    if len(rates) > 1:
        lines += ["| ratio of tokens per wall second (per round) | median | range |", "|---|---|---|"]
        lines += [ratio(f"{label} / this tree", rates[label], rates["this tree"]) if label != "baseline"
                  else ratio("this tree / baseline", rates["this tree"], rates["baseline"])
                  for label in rates if label != "this tree"]
        lines.append("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128, help="max tokens per reply")
    parser.add_argument("--thread-tokens", type=int, default=24,
                        help="max tokens per reply in the threads section (2 threads beside a busy core crawl)")
    parser.add_argument("--quickstart", action="store_true", help="also time the quick start")
    parser.add_argument("--quickstart-repeats", type=int, default=1)
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="also time the quick start from this older src/ tree, alternating")
    parser.add_argument("--baseline-set", action="append", help="--set override for the baseline's run")
    parser.add_argument("--beside", type=int, default=0,
                        help="also run this tree's quick start beside N CPU-bound processes (other jobs)")
    parser.add_argument("--skip-batching", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args()
    sampled = not (args.skip_batching and args.skip_threads)  # the quick start has its own settings
    lines = ["# Embedded model throughput", "",
             (f"`{' '.join(['.venv/bin/python', 'benchmarks/embedded_throughput.py', *sys.argv[1:]])}` on "
             f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             + (f"; {args.repeats} rounds, at most {args.tokens} tokens per reply, temperature 0.7." if sampled
                else ".")), ""]
    if not args.skip_batching:
        batching_section(args, lines)
    if not args.skip_threads:
        threads_section(args, lines)
    if args.quickstart:
        quickstart_section(args, lines)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
