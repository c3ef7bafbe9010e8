"""OpenAICompatModel against a real OpenAI-compatible server: llama.cpp's, serving SmolLM2-135M."""

from __future__ import annotations

import pytest

from selftaught.models.base import ChatRequest
from selftaught.models.openai_compat import OpenAICompatModel

pytestmark = [pytest.mark.integration, pytest.mark.embedded]

PROMPT = """This function should return the largest element of a list, but it returns the first one.

```python
def algorithm(xs):
    return xs[0]
```

Fix it. Reply with one python code block."""


def test_chat_completion_through_real_server(llama_server: str, llama_server_model: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAICompatModel(model=llama_server_model, base_url=llama_server, timeout=120, max_retries=1)
    try:
        model.check()
        comp = model.complete(ChatRequest(
            model=llama_server_model, system="You are an expert Python programmer.", user=PROMPT,
            temperature=0.2, max_tokens=128, seed=7))
    finally:
        model.close()
    assert comp.text.strip()
    assert comp.prompt_tokens > 20 and comp.completion_tokens > 0
    assert comp.finish_reason in {"stop", "length"}
    assert comp.latency > 0
