"""llama.cpp driven through llama-cpp-python's low-level API: one prompt decoded once, n continuations
sampled together as one multi-sequence batch, each with its own seed.

Why not the high-level ``Llama`` object: it generates one sequence at a time, so n replies to one prompt
cost n prompt decodes and n sequential generations. Here the prompt is decoded once and the n sequences
advance as one batch: for n = 6 on one thread, 2.7x the tokens/s of the old one-by-one path, of which
batching the decode itself gives 1.4x (benchmarks/embedded_throughput.md).

Determinism: a reply depends on the prompt, its seed and the *group* it was sampled with (the batch's
shape changes floating-point rounding), never on what the session did before. Two rules keep it so:
- every sequence lives in its own KV stream (``kv_unified = False``), so its attention sums over its own
  cells only, in position order;
- the prompt is decoded in chunks aligned to fixed positions (multiples of ``CHUNK``), and only whole
  chunks are kept for the next call (prefix reuse). A reused chunk was computed from the same tokens
  with the same batch shape at the same cells as a fresh decode would compute it, so the KV state is
  bit-identical either way.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.errors import ModelError

#: Prompt tokens decoded per llama_decode call, at positions aligned to multiples of it.
CHUNK = 256
_TOP_K, _TOP_P, _MIN_P = 40, 0.95, 0.05  # llama-cpp-python's defaults, so replies look as before
_backend_lock = threading.Lock()
_backend_ready = False


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
    the provider serialises calls."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int, n_parallel: int) -> None:
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
        cparams.n_threads = cparams.n_threads_batch = n_threads
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
        #: Prompt tokens the last ``sample`` took from the previous call's KV state instead of decoding.
        self.reused = 0

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
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise ModelError(f"the embedded model failed to decode a batch (llama_decode returned {rc})")

    def _prefill(self, prompt: list[int]) -> None:
        """Sequence 0 holds the prompt's KV, logits of its last token in batch slot (last index)."""
        lib = self._lib
        common = 0
        for a, b in zip(self._kept, prompt):
            if a != b:
                break
            common += 1
        start = (min(common, len(prompt) - 1) // CHUNK) * CHUNK
        for seq in range(self.n_parallel):  # drop other sequences and the part of 0 not reused
            lib.llama_memory_seq_rm(self._mem, seq, start if seq == 0 else -1, -1)
        self._kept = []
        self.reused = start
        pos = start
        while pos < len(prompt):
            end = min(len(prompt), (pos // CHUNK + 1) * CHUNK)
            self._decode([(prompt[p], p, 0, p == len(prompt) - 1) for p in range(pos, end)])
            pos = end
        self._kept = prompt[: (len(prompt) // CHUNK) * CHUNK]
        self._last_index = (len(prompt) - 1) % CHUNK

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
        if not 0 < len(seeds) <= self.n_parallel:
            raise ValueError(f"between 1 and {self.n_parallel} seeds per call, not {len(seeds)}")
        if len(prompt) >= self.n_ctx:
            raise ValueError(f"a prompt of {len(prompt)} tokens does not fit a context of {self.n_ctx}")
        lib = self._lib
        self._prefill(prompt)
        for seq in range(1, len(seeds)):
            lib.llama_memory_seq_cp(self._mem, 0, seq, -1, -1)
        samplers = [self._sampler(s, temperature) for s in seeds]
        out: list[list[int]] = [[] for _ in seeds]
        finish = [""] * len(seeds)
        limit = min(max_tokens, self.n_ctx - len(prompt))
        index = dict.fromkeys(range(len(seeds)), self._last_index)  # batch slot of each seq's logits
        try:
            while index:
                step = []
                for seq, slot in index.items():
                    tok = lib.llama_sampler_sample(samplers[seq], self._ctx, slot)
                    if lib.llama_vocab_is_eog(self._vocab, tok):
                        finish[seq] = "stop"
                        continue
                    out[seq].append(tok)
                    if len(out[seq]) >= limit:
                        finish[seq] = "length"
                        continue
                    step.append((tok, len(prompt) + len(out[seq]) - 1, seq, True))
                index = {seq: i for i, (_, _, seq, _) in enumerate(step)}
                if step:
                    self._decode(step)
        finally:
            for chain in samplers:
                lib.llama_sampler_free(chain)
            lib.llama_memory_seq_rm(self._mem, 0, len(prompt), -1)  # keep the prompt, drop the reply
        return [Sample(self.detokenize(toks), len(toks), finish[i]) for i, toks in enumerate(out)]

    def close(self) -> None:
        lib = self._lib
        if self._ctx:
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            lib.llama_model_free(self._model)
            self._ctx = self._model = None
