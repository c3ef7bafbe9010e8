"""ScriptedModel and make_provider: the test double goes through the real plug-in path."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from selftaught.errors import ConfigError, PluginNotFound
from selftaught.models.base import ChatRequest
from selftaught.models.providers import make_provider
from selftaught.models.scripted import ScriptedModel


def _req(user: str) -> ChatRequest:
    return ChatRequest(model="m", system="sys prompt", user=user, temperature=0.7, max_tokens=10)


def test_replies_cycle_and_requests_are_recorded() -> None:
    model = ScriptedModel(["a b", "c"])
    texts = [model.complete(_req(f"u{i}")).text for i in range(5)]
    assert texts == ["a b", "c", "a b", "c", "a b"]
    assert [r.user for r in model.requests] == ["u0", "u1", "u2", "u3", "u4"]
    comp = model.complete(_req("one two three"))
    assert (comp.prompt_tokens, comp.completion_tokens) == (5, 1)
    assert model.model_id == "scripted"


def test_responder_sees_the_request() -> None:
    model = ScriptedModel(responder=lambda r: r.user.upper())
    assert model.complete(_req("fix me")).text == "FIX ME"


def test_concurrent_use_hands_out_each_reply_once() -> None:
    replies = [str(i) for i in range(60)]
    model = ScriptedModel(replies)
    barrier = threading.Barrier(6)

    def call(i: int) -> str:
        if i < 6:
            barrier.wait()
        return model.complete(_req(str(i))).text

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(call, range(60)))
    assert sorted(got, key=int) == replies
    assert len(model.requests) == 60


@pytest.mark.parametrize("kwargs", [{}, {"replies": []}, {"replies": "abc"},
                                    {"replies": ["a"], "responder": str}])
def test_bad_construction_is_a_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ScriptedModel(**kwargs)


def test_make_provider_builds_registered_scripted_model() -> None:
    model = make_provider("scripted", replies=["x"], concurrency=2)
    assert isinstance(model, ScriptedModel) and model.concurrency == 2
    assert model.complete(_req("q")).text == "x"


def test_make_provider_rejects_unknown_option_listing_accepted_ones() -> None:
    with pytest.raises(ConfigError) as info:
        make_provider("scripted", replys=["x"])
    message = str(info.value)
    assert "'replys' (did you mean 'replies'?)" in message
    assert "accepted options are replies, responder, concurrency" in message


def test_make_provider_reports_missing_required_option() -> None:
    with pytest.raises(ConfigError, match="needs the option 'model'"):
        make_provider("openai", base_url="http://127.0.0.1:1/v1")


def test_make_provider_unknown_name() -> None:
    with pytest.raises(PluginNotFound, match="did you mean 'scripted'"):
        make_provider("scriptd")
