"""llama.cpp driven through llama-cpp-python's low-level API with continuous batching: up to ``n_parallel``
sequences advance together one token per decode step; a group (n continuations of one prompt, each with
its own seed) is admitted between steps when enough sequences are free, its prompt decoded once, and
retired as soon as its last sequence ends, so a request that arrives while others decode joins them at
the next step instead of waiting for the whole batch.

Why not the high-level ``Llama`` object: it generates one sequence at a time, so n replies to one prompt
cost n prompt decodes and n sequential generations, and requests arriving together wait for each other
(benchmarks/embedded_throughput.md).

Determinism: a reply depends on its prompt and seed only, never on what else was in the batch, when it
was admitted, or what the session did before. The rules that keep it so:
- every sequence lives in its own KV stream (``kv_unified = False``), so its attention sums over its own
  cells only, in position order, and every sequence decodes one token per step (a prompt's last token
  included), a row llama.cpp computes the same way whatever the other rows are;
- attention runs without flash attention, whose split of the keys across threads made a reply depend on
  the thread count; without it replies are the same at any count, so the count may change between
  decode steps (``cpu_share.py``);
- a prompt is decoded alone, in chunks aligned to fixed positions (multiples of ``CHUNK``); each slot
  keeps its last prompt, and a later group reuses its whole chunks, or all of it when its prompt is the
  same. A reused chunk was computed from the same tokens with the same batch shape at the same cells as
  a fresh decode would compute it (a last, partial chunk is that only for the same prompt), so the KV
  state is bit-identical either way.
Tests (tests/integration/test_embedded.py) check each rule against replies sampled alone on a fresh model.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.errors import ModelError
from selftaught.values import cut_at_stop

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
    #: stop sequences: a continuation ends before the first of them
    stop: tuple[str, ...] = ()


def _reusable(kept: list[int], body: list[int]) -> int:
    """Tokens of ``body`` whose KV a slot that decoded ``kept`` holds as a fresh decode of ``body`` would
    compute it: all of them for the same tokens, else the whole chunks they share."""
    return len(body) if kept == body else (_common(kept, body) // CHUNK) * CHUNK


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


@dataclass(eq=False)
class Admitted:
    """A group taking part in decode steps: the slots (sequences) its seeds run in, and their samples so far."""

    group: Group
    slots: tuple[int, ...]
    #: Prompt tokens taken from a slot's kept KV instead of being decoded.
    reused: int = 0
    done: dict[int, Sample] = field(default_factory=dict)

    def samples(self) -> list[Sample]:
        """One sample per seed, in seed order (complete once the group has ended)."""
        return [self.done[slot] for slot in self.slots]


@dataclass(eq=False)
class _Sequence:
    """One live continuation: the token its next step decodes, at which position, and its sampler state."""

    admitted: Admitted
    sampler: Any
    limit: int
    next_token: int
    position: int
    tokens: list[int] = field(default_factory=list)
    finish: str = ""
    #: the last bytes decoded, as long as the longest stop sequence plus a token: where a stop can end
    tail: bytes = b""


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
        #: Per slot: the prompt tokens (but the last) whose KV it holds from the last group it served.
        self._kept: list[list[int]] = [[] for _ in range(self.n_parallel)]
        self._live: dict[int, _Sequence] = {}
        #: Decode steps by how many sequences they advanced.
        self.steps: Counter[int] = Counter()

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

    def _prefill(self, prompt: list[int], slot: int) -> int:
        """Make ``slot`` hold the KV of ``prompt`` but its last token (which the first sampling step
        decodes); returns the prompt tokens reused instead of decoded. What some slot kept of it (its own, or
        another's, live ones included; ``_reusable``) is reused: another slot's KV stream is copied whole,
        then cut back to that."""
        lib = self._lib
        body = prompt[:-1]
        shared = [_reusable(self._kept[q], body) for q in range(self.n_parallel)]
        donor = max(range(self.n_parallel), key=lambda q: (shared[q], q == slot))
        if shared[donor] > shared[slot]:
            lib.llama_memory_seq_rm(self._mem, slot, -1, -1)
            lib.llama_memory_seq_cp(self._mem, donor, slot, -1, -1)  # llama.cpp copies streams whole only
        start = shared[donor]
        lib.llama_memory_seq_rm(self._mem, slot, start, -1)
        pos = start
        while pos < len(body):
            end = min(len(body), (pos // CHUNK + 1) * CHUNK)
            self._decode([(body[p], p, slot, False) for p in range(pos, end)])
            pos = end
        self._kept[slot] = list(body)
        return start

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

    # -- continuous batching: groups admitted between steps, each retired when its last sequence ends ----

    @property
    def free_slots(self) -> int:
        """Sequences a group admitted now could use."""
        return self.n_parallel - len(self._live)

    @property
    def busy(self) -> bool:
        """Whether some admitted group is still generating."""
        return bool(self._live)

    def admit(self, group: Group) -> Admitted:
        """Start ``group``'s continuations at the next ``step``. Its prompt is decoded once, into the free slot
        that kept the most of it (or from the slot that did, ``_prefill``), and copied to
        its other slots."""
        if not 0 < len(group.seeds) <= self.free_slots:
            raise ValueError(f"a group of {len(group.seeds)} seeds with {self.free_slots} free slots")
        if not 0 < len(group.prompt) < self.n_ctx:
            raise ValueError(f"a prompt of {len(group.prompt)} tokens does not fit a context of {self.n_ctx}")
        lib = self._lib
        free = [q for q in range(self.n_parallel) if q not in self._live]
        body = group.prompt[:-1]
        source = max(free, key=lambda q: (_reusable(self._kept[q], body), -q))
        slots = [source] + [q for q in free if q != source][: len(group.seeds) - 1]
        admitted = Admitted(group, tuple(slots))
        admitted.reused = self._prefill(group.prompt, source)
        for slot in slots[1:]:
            lib.llama_memory_seq_rm(self._mem, slot, -1, -1)
            lib.llama_memory_seq_cp(self._mem, source, slot, -1, -1)
            self._kept[slot] = list(self._kept[source])
        limit = min(group.max_tokens, self.n_ctx - len(group.prompt))
        for slot, seed in zip(slots, group.seeds):
            self._live[slot] = _Sequence(admitted, self._sampler(seed, group.temperature), limit,
                                         group.prompt[-1], len(group.prompt) - 1)
        return admitted

    def step(self) -> list[Admitted]:
        """Decode one token of every live sequence; the groups whose last sequence ended in this step."""
        lib = self._lib
        order = sorted(self._live)
        self._decode([(self._live[q].next_token, self._live[q].position, q, True) for q in order])
        self.steps[len(order)] += 1
        ended: list[Admitted] = []
        for row, q in enumerate(order):
            seq = self._live[q]
            tok = lib.llama_sampler_sample(seq.sampler, self._ctx, row)
            stops = seq.admitted.group.stop
            if lib.llama_vocab_is_eog(self._vocab, tok):
                seq.finish = "stop"
            else:
                seq.tokens.append(tok)
                seq.next_token, seq.position = tok, seq.position + 1
                if stops and self._stopped(seq, tok, stops):
                    seq.finish = "stop"
                elif len(seq.tokens) >= seq.limit:
                    seq.finish = "length"
            if seq.finish:
                self._retire(q)
                group = seq.admitted
                text = self.detokenize(seq.tokens)
                if stops:
                    text = cut_at_stop(text, stops)[0]
                group.done[q] = Sample(text, len(seq.tokens), seq.finish)
                if len(group.done) == len(group.slots):
                    ended.append(group)
        return ended

    def _stopped(self, seq: _Sequence, tok: int, stops: tuple[str, ...]) -> bool:
        """Whether the bytes decoded so far hold a stop sequence; only a bounded tail is kept and searched,
        so a step costs the same however long the reply is."""
        keep = max(len(s.encode()) for s in stops) + 16
        seq.tail = (seq.tail + self.piece(tok))[-keep - 64:]
        return any(s.encode() in seq.tail for s in stops)

    def _retire(self, slot: int) -> None:
        """Free ``slot``, keeping its prompt's KV for a later call to reuse."""
        self._lib.llama_sampler_free(self._live.pop(slot).sampler)
        self._lib.llama_memory_seq_rm(self._mem, slot, len(self._kept[slot]), -1)

    def reset(self) -> None:
        """Drop every live sequence and all kept KV (after a failed decode the cache state is unknown)."""
        for slot in list(self._live):
            self._lib.llama_sampler_free(self._live.pop(slot).sampler)
        for slot in range(self.n_parallel):
            self._lib.llama_memory_seq_rm(self._mem, slot, -1, -1)
            self._kept[slot] = []

    def sample(self, prompt: list[int], seeds: list[int], temperature: float, max_tokens: int) -> list[Sample]:
        """One continuation of ``prompt`` per seed (at most ``n_parallel``), decoded together."""
        return self.sample_groups([Group(prompt, tuple(seeds), temperature, max_tokens)])[0]

    def sample_groups(self, groups: list[Group]) -> list[list[Sample]]:
        """Each group's continuations, all groups admitted at once and decoded together (at most
        ``n_parallel`` sequences in all). A reply depends on its prompt and seed only, not on what it was
        decoded with (tested against replies sampled alone)."""
        if self._live or sum(len(g.seeds) for g in groups) > self.n_parallel or any(not g.seeds for g in groups):
            raise ValueError(f"between 1 and {self.n_parallel} seeds per call, and one per group at least")
        try:
            admitted = [self.admit(g) for g in groups]
            while self._live:
                self.step()
        except BaseException:
            self.reset()
            raise
        return [a.samples() for a in admitted]

    def close(self) -> None:
        lib = self._lib
        if self._ctx:
            for seq in self._live.values():
                lib.llama_sampler_free(seq.sampler)
            self._live.clear()
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            lib.llama_model_free(self._model)
            self._ctx = self._model = None

