"""llama.cpp driven through llama-cpp-python's low-level API: a prompt decoded once, its n continuations
and those of other prompts sampled together as one multi-sequence batch, each with its own seed.

Why not the high-level ``Llama`` object: it generates one sequence at a time, so n replies to one prompt
cost n prompt decodes and n sequential generations, and requests arriving together wait for each other.
Here each prompt is decoded once and all sequences advance as one batch (benchmarks/
embedded_throughput.md).

Determinism: a reply depends on its prompt and seed only, never on what else was in the batch or what
the session did before. The rules that keep it so:
- every sequence lives in its own KV stream (``kv_unified = False``), so its attention sums over its own
  cells only, in position order, and every sequence decodes one token per step (a prompt's last token
  included), a row llama.cpp computes the same way whatever the other rows are;
- attention runs without flash attention, whose split of the keys across threads made a reply depend on
  the thread count; without it replies are the same at any count, so the count may change between
  decode steps (``cpu_share.py``);
- the prompt is decoded in chunks aligned to fixed positions (multiples of ``CHUNK``), and only whole
  chunks are kept for the next call (prefix reuse). A reused chunk was computed from the same tokens
  with the same batch shape at the same cells as a fresh decode would compute it, so the KV state is
  bit-identical either way.
Tests (tests/integration/test_embedded.py) check each rule against replies sampled alone on a fresh model.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.errors import ModelError

#: Prompt tokens decoded per llama_decode call, at positions aligned to multiples of it; also the unit of
#: prefix reuse. Small, because a run's prompts are often short (the quick start's: about 100 tokens) and
#: share all but their last lines; decoding 32 tokens at a time was as fast as 256 here (prompts of 79
#: and 267 tokens, 1 thread).
CHUNK = 32
_TOP_K, _TOP_P, _MIN_P = 40, 0.95, 0.05  # llama-cpp-python's defaults, so replies look as before
_backend_lock = threading.Lock()
_backend_ready = False


@dataclass(frozen=True)
class Group:
    """Continuations of one prompt: one per seed, at one temperature and length limit."""

    prompt: list[int]
    seeds: tuple[int, ...]
    temperature: float
    max_tokens: int


def _common(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Sample:
    """One continuation: its text, how many tokens it took and why it stopped (``stop``/``length``)."""

    text: str
    tokens: int
    finish_reason: str


def _llama() -> Any:
    """The ``llama_cpp`` module, with llama.cpp's own logging quietened and its backend started once."""
    global _backend_ready
    import llama_cpp

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_backend_init()
            _backend_ready = True
    return llama_cpp


class LlamaSession:
    """A loaded GGUF with a context of ``n_parallel`` sequences of ``n_ctx`` tokens each. Not thread-safe:
    the provider serialises calls. ``threads`` says, before each decode step, how many threads it may use."""

    def __init__(self, path: Path, *, n_ctx: int, threads: Callable[[], int], n_parallel: int) -> None:
        self._lib = lib = _llama()
        self.n_ctx = n_ctx
        self.n_parallel = max(1, n_parallel)
        mparams = lib.llama_model_default_params()
        self._model = lib.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise ValueError(f"llama.cpp could not load {path}")
        self._vocab = lib.llama_model_get_vocab(self._model)
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = n_ctx * self.n_parallel
        cparams.n_batch = cparams.n_ubatch = max(CHUNK, self.n_parallel)
        cparams.n_seq_max = self.n_parallel
        cparams.kv_unified = False
        self._threads, self._n_threads = threads, threads()
        cparams.n_threads = cparams.n_threads_batch = self._n_threads
        cparams.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.no_perf = True
        self._ctx = lib.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            lib.llama_model_free(self._model)
            raise ValueError(f"llama.cpp could not make a context of {n_ctx} x {self.n_parallel} tokens")
        self._mem = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(max(CHUNK, self.n_parallel), 0, 1)
        self._template = lib.llama_model_chat_template(self._model, None)
        #: Prompt tokens whose KV (whole chunks only) sequence 0 holds from the previous call.
        self._kept: list[int] = []
        #: Prompt tokens the last call took from the previous call's KV state instead of decoding, and the
        #: index of the group that took them.
        self.reused = 0
        self.reused_by = 0

    # -- text <-> tokens ------------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        data = text.encode()
        room = len(data) + 16
        buf = (self._lib.llama_token * room)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, room, add_bos, special)
        if n < 0:  # cannot happen with a token per byte and spare room, but never read past the buffer
            raise ValueError(f"llama_tokenize needs {-n} tokens")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode(errors="ignore")

    def chat_prompt(self, system: str, user: str) -> list[int]:
        """Tokens of the model's chat template around (system, user), ending where the reply starts."""
        lib = self._lib
        msgs = ([("system", system)] if system else []) + [("user", user)]
        chat = (lib.llama_chat_message * len(msgs))(
            *[lib.llama_chat_message(role.encode(), text.encode()) for role, text in msgs])
        size = 2 * sum(len(t.encode()) for _, t in msgs) + 256
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            n = lib.llama_chat_apply_template(self._template, chat, len(msgs), True, buf, size)
            if n < 0:
                raise ModelError("this model's chat template is not one llama.cpp knows: set model.model_path "
                                 "to a chat model with a standard template")
            if n <= size:
                break
            size = n + 1
        text = buf.raw[:n].decode(errors="ignore")
        return self.tokenize(text, special=True, add_bos=bool(lib.llama_vocab_get_add_bos(self._vocab)))

    # -- decoding ------------------------------------------------------------------------------------

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Put (token, position, sequence, wants logits) entries in the batch."""
        b = self._batch
        for i, (tok, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
            b.seq_id[i][0] = seq
        b.n_tokens = len(entries)

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        self._fill(entries)
        n_threads = self._threads()
        if n_threads != self._n_threads:
            self._lib.llama_set_n_threads(self._ctx, n_threads, n_threads)
            self._n_threads = n_threads
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise ModelError(f"the embedded model failed to decode a batch (llama_decode returned {rc})")

    def _prefill(self, prompts: list[list[int]], first_seqs: list[int]) -> None:
        """Sequence ``first_seqs[i]`` holds the KV of ``prompts[i]`` but its last token (which the first
        sampling step decodes). Sequence 0 reuses the whole chunks it shares with the previous call's."""
        lib = self._lib
        for seq in range(1, self.n_parallel):
            lib.llama_memory_seq_rm(self._mem, seq, -1, -1)
        self.reused = 0
        for prompt, seq in zip(prompts, first_seqs):
            body = prompt[:-1]
            start = 0
            if seq == 0:
                start = (_common(self._kept, body) // CHUNK) * CHUNK
                lib.llama_memory_seq_rm(self._mem, 0, start, -1)
                self._kept, self.reused = body[:start], start
            pos = start
            while pos < len(body):
                end = min(len(body), (pos // CHUNK + 1) * CHUNK)
                self._decode([(body[p], p, seq, False) for p in range(pos, end)])
                pos = end
            if seq == 0:
                self._kept = body[: (len(body) // CHUNK) * CHUNK]

    def _sampler(self, seed: int, temperature: float) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        for smpl in (lib.llama_sampler_init_top_k(_TOP_K), lib.llama_sampler_init_top_p(_TOP_P, 1),
                     lib.llama_sampler_init_min_p(_MIN_P, 1), lib.llama_sampler_init_temp(temperature),
                     lib.llama_sampler_init_dist(seed & 0xFFFFFFFF)):
            lib.llama_sampler_chain_add(chain, smpl)
        return chain

    def sample(self, prompt: list[int], seeds: list[int], temperature: float, max_tokens: int) -> list[Sample]:
        """One continuation of ``prompt`` per seed (at most ``n_parallel``), decoded together."""
        return self.sample_groups([Group(prompt, tuple(seeds), temperature, max_tokens)])[0]

    def sample_groups(self, groups: list[Group]) -> list[list[Sample]]:
        """Each group's continuations, all groups' sequences (at most ``n_parallel``) decoded together.

        A reply depends on its prompt and seed only, not on what it was decoded with: every sequence
        decodes one token per step in its own KV stream, and llama.cpp computes each row of a batch the
        same way whatever the other rows are (tested against replies sampled alone)."""
        seqs = [seq for g in groups for seq in g.seeds]
        if not 0 < len(seqs) <= self.n_parallel or any(not g.seeds for g in groups):
            raise ValueError(f"between 1 and {self.n_parallel} seeds per call, and one per group at least")
        for g in groups:
            if not 0 < len(g.prompt) < self.n_ctx:
                raise ValueError(f"a prompt of {len(g.prompt)} tokens does not fit a context of {self.n_ctx}")
        lib = self._lib
        # The group sharing most with sequence 0's kept prompt goes first, into sequence 0 (reuse).
        order = sorted(range(len(groups)), key=lambda i: -_common(self._kept, groups[i].prompt))
        first, owner, at = {}, [], 0
        for i in order:
            first[i] = at
            owner += [i] * len(groups[i].seeds)
            at += len(groups[i].seeds)
        source: dict[int, int] = {}  # group -> the sequence its prompt's KV is decoded into (once per prompt)
        for i in order:
            source[i] = next((first[j] for j in order if j in source and groups[j].prompt == groups[i].prompt),
                             first[i])
        distinct = [i for i in order if source[i] == first[i]]
        self._prefill([groups[i].prompt for i in distinct], [first[i] for i in distinct])
        self.reused_by = order[0]
        for i in order:
            for seq in range(first[i], first[i] + len(groups[i].seeds)):
                if seq != source[i]:
                    lib.llama_memory_seq_cp(self._mem, source[i], seq, -1, -1)
        seeds = [s for i in order for s in groups[i].seeds]
        samplers = [self._sampler(seed, groups[owner[q]].temperature) for q, seed in enumerate(seeds)]
        out: list[list[int]] = [[] for _ in seeds]
        finish = [""] * len(seeds)
        limits = [min(groups[owner[q]].max_tokens, self.n_ctx - len(groups[owner[q]].prompt))
                  for q in range(len(seeds))]
        try:
            step = [(groups[owner[q]].prompt[-1], len(groups[owner[q]].prompt) - 1, q, True)
                    for q in range(len(seeds))]
            while step:
                self._decode(step)
                index = [(q, slot) for slot, (_, _, q, _) in enumerate(step)]
                step = []
                for q, slot in index:
                    tok = lib.llama_sampler_sample(samplers[q], self._ctx, slot)
                    if lib.llama_vocab_is_eog(self._vocab, tok):
                        finish[q] = "stop"
                        continue
                    out[q].append(tok)
                    if len(out[q]) >= limits[q]:
                        finish[q] = "length"
                        continue
                    step.append((tok, len(groups[owner[q]].prompt) + len(out[q]) - 1, q, True))
        finally:
            for chain in samplers:
                lib.llama_sampler_free(chain)
            lib.llama_memory_seq_rm(self._mem, 0, len(self._kept), -1)  # keep whole prompt chunks only
        samples = [Sample(self.detokenize(toks), len(toks), finish[q]) for q, toks in enumerate(out)]
        return [samples[first[i]:first[i] + len(groups[i].seeds)] for i in range(len(groups))]

    def close(self) -> None:
        lib = self._lib
        if self._ctx:
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            lib.llama_model_free(self._model)
            self._ctx = self._model = None
