"""Benchmark (b): ``batch_prompt`` of 6 messages against an OpenAI-compatible endpoint on loopback that
answers every request after a fixed delay L.

    .venv/bin/python benchmarks/batch_prompt_latency.py [--delay 0.5] [--repeats 5]

The whole path a model-written improver uses: a sandboxed program calls ``language_model.batch_prompt``,
the RPC reaches the host, the recorder sends the 6 requests through the real ``openai`` client
(``model.concurrency`` = 6) to benchmarks/fake_openai.py, and the replies go back into the sandbox. The
program times the call itself. Target: <= 1.3 L (serial requests would take 6 L).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import median
from fake_openai import serve

from selftaught.engine.improver import run_improver
from selftaught.engine.language_model import LanguageModelService
from selftaught.models.openai_compat import OpenAICompatModel
from selftaught.models.recorder import Recorder
from selftaught.sandbox.local import LocalExecutor
from selftaught.store import RunStore

PROGRAM = '''
import time
def improve_algorithm(initial_solution, utility, language_model):
    start = time.perf_counter()
    replies = language_model.batch_prompt("You are terse.", ["message %d" % i for i in range(6)], 0.7)
    assert len(replies) == 6
    return repr(time.perf_counter() - start)
'''


class _NoUtility:
    budget, uses, description = 0, 0, ""

    def __call__(self, solution: object) -> float:
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store = RunStore(Path(tempfile.mkdtemp(prefix="bench-batch-")), create=True)
    executor = LocalExecutor()
    times = []
    with serve(delay=args.delay, reply=lambda user: "reply to " + user) as url:
        provider = OpenAICompatModel(model="fake", base_url=url, concurrency=6)
        recorder = Recorder(provider, store)
        for i in range(args.repeats):  # a fresh scope each time: every request is a cache miss
            lm = LanguageModelService(recorder, model="fake", scope=f"bench/{i}", budget=1,
                                      max_responses_per_call=6, max_tokens=64)
            out = run_improver(executor, PROGRAM, "", _NoUtility(), lm, seconds=60)
            assert out.ok, out.error
            times.append(float(out.result))
        recorder.close()
    assert recorder.calls_sent == 6 * args.repeats and recorder.cache_hits == 0
    m = median(times)
    print(f"batch_prompt seconds: {', '.join(f'{t:.3f}' for t in times)}")
    print("| benchmark | delay L | batch_prompt of 6 (median) | ratio to L | target |")
    print("|---|---|---|---|---|")
    print(f"| (b) batch_prompt of 6, loopback endpoint | {args.delay:.2f} s | {m:.3f} s | {m / args.delay:.2f} L | "
          "<= 1.3 L |")


if __name__ == "__main__":
    main()
