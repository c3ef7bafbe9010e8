"""OpenAICompatModel against a real (tiny) HTTP server on loopback speaking /v1/chat/completions."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from selftaught.errors import ModelError, ModelUnavailable
from selftaught.models.base import ChatRequest
from selftaught.models.openai_compat import OpenAICompatModel
from selftaught.models.recorder import Recorder
from selftaught.store import RunStore


@dataclass
class FakeServer:
    """What the handler does: answer ``statuses`` in order (then 200s), sleeping ``delay`` per request."""

    base_url: str = ""
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    models: list[str] = field(default_factory=lambda: ["tiny"])
    bodies: list[dict] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in state.models]})
            else:
                self._send(404, {"error": {"message": "no such route"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.bodies.append(body)
                state.auth.append(self.headers.get("Authorization", ""))
            time.sleep(state.delay)
            status = state.next_status()
            if status != 200:
                messages = {401: "invalid api key", 404: f"model '{body['model']}' does not exist",
                            400: "this model's maximum context length is 2048 tokens\nplease shorten"}
                self._send(status, {"error": {"message": messages.get(status, "overloaded")}},
                           {"Retry-After": "0"} if status == 429 else None)
                return
            prompt = body["messages"][-1]["content"]
            self._send(200, {
                "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"echo: {prompt}"}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            })

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TEST_MODEL_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _model(url: str, **kw: object) -> OpenAICompatModel:
    opts: dict = {"model": "tiny", "base_url": url, "retry_base": 0.01, "retry_cap": 0.05, "timeout": 5}
    opts.update(kw)
    return OpenAICompatModel(**opts)


def _req(user: str = "fix f", seed: int | None = 123) -> ChatRequest:
    return ChatRequest(model="tiny", system="be brief", user=user, temperature=0.2, max_tokens=64, seed=seed)


def test_reply_usage_and_parameters(server: FakeServer) -> None:
    comp = _model(server.base_url).complete(_req("hello"))
    assert comp.text == "echo: hello"
    assert (comp.prompt_tokens, comp.completion_tokens, comp.finish_reason) == (11, 7, "stop")
    assert comp.latency > 0
    body = server.bodies[0]
    assert body["model"] == "tiny" and body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert body["seed"] == 123
    assert body["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "hello"}]
    assert server.auth[0] == "Bearer not-needed"  # local server, no key set: placeholder


def test_no_seed_is_not_sent(server: FakeServer) -> None:
    _model(server.base_url).complete(_req(seed=None))
    assert "seed" not in server.bodies[0]


def test_key_read_from_named_variable(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MODEL_KEY", "sk-secret")
    _model(server.base_url, api_key_env="TEST_MODEL_KEY").complete(_req())
    assert server.auth[0] == "Bearer sk-secret"


def test_model_id_excludes_transport(server: FakeServer) -> None:
    assert _model(server.base_url).model_id == "openai-compat:tiny"
    assert _model("http://elsewhere:1/v1", timeout=9).model_id == "openai-compat:tiny"


@pytest.mark.parametrize("statuses", [[429], [500], [503, 429, 502]])
def test_transient_failures_are_retried(server: FakeServer, statuses: list[int]) -> None:
    server.statuses = list(statuses)
    comp = _model(server.base_url, max_retries=4).complete(_req("x"))
    assert comp.text == "echo: x"
    assert len(server.bodies) == len(statuses) + 1
    assert comp.extra["attempts"] == len(statuses) + 1


def test_retries_exhausted_raise_model_error(server: FakeServer) -> None:
    server.statuses = [500, 500, 500]
    with pytest.raises(ModelError, match="3 attempts"):
        _model(server.base_url, max_retries=2).complete(_req())
    assert len(server.bodies) == 3


def test_backoff_grows_exponentially(server: FakeServer) -> None:
    server.statuses = [500, 500, 500]
    model = _model(server.base_url, max_retries=3, retry_base=0.1, retry_cap=10)
    started = time.perf_counter()
    model.complete(_req())
    # three sleeps of 0.1, 0.2, 0.4 s, each jittered down to no less than half: >= 0.35 s in all
    assert time.perf_counter() - started >= 0.35


def test_timeout_is_retried_then_model_error(server: FakeServer) -> None:
    server.delay = 0.5
    with pytest.raises(ModelError, match=r"did not answer within 0\.2 s"):
        _model(server.base_url, timeout=0.2, max_retries=1).complete(_req())
    assert len(server.bodies) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_model_unavailable_on_one_line() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(ModelUnavailable) as info:
        _model(url, max_retries=2).complete(_req())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach the model server at {url}:")
    assert message.endswith("start it or fix model.base_url")


def test_unauthorised_names_the_variable(server: FakeServer) -> None:
    server.statuses = [401]
    with pytest.raises(ModelUnavailable, match="TEST_MODEL_KEY") as info:
        _model(server.base_url, api_key_env="TEST_MODEL_KEY").complete(_req())
    assert "\n" not in str(info.value)
    assert len(server.bodies) == 1  # a refused key is not retried


def test_missing_model_names_the_model(server: FakeServer) -> None:
    server.statuses = [404]
    with pytest.raises(ModelUnavailable, match="model 'tiny' not found"):
        _model(server.base_url).complete(_req())


def test_no_key_for_openai_itself_names_the_variable() -> None:
    with pytest.raises(ModelUnavailable, match="TEST_MODEL_KEY"):
        OpenAICompatModel(model="gpt-4o", api_key_env="TEST_MODEL_KEY")


def test_prompt_too_long_gives_empty_reply_not_error(server: FakeServer) -> None:
    server.statuses = [400]
    comp = _model(server.base_url).complete(_req())
    assert comp.text == "" and comp.finish_reason == "context_overflow"
    assert "\n" not in comp.extra["error"]


def test_check_passes_when_model_listed(server: FakeServer) -> None:
    _model(server.base_url).check()
    assert server.bodies == []  # listing sufficed: nothing generated


def test_check_probes_unlisted_model_and_reports_404(server: FakeServer) -> None:
    server.models = ["other"]
    server.statuses = [404]
    with pytest.raises(ModelUnavailable, match="model 'tiny' not found"):
        _model(server.base_url).check()
    assert server.bodies[0]["max_tokens"] == 1


def test_check_unreachable() -> None:
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        _model(f"http://127.0.0.1:{_free_port()}/v1").check()


def test_check_turns_persistent_server_errors_into_model_unavailable(server: FakeServer) -> None:
    server.models = []
    server.statuses = [500, 500]
    with pytest.raises(ModelUnavailable, match="500"):
        _model(server.base_url).check()


def test_requests_overlap_through_the_recorder(server: FakeServer, tmp_path: Path) -> None:
    server.delay = 0.3
    model = _model(server.base_url, concurrency=6)
    store = RunStore(tmp_path / "run", create=True)
    recorder = Recorder(model, store)
    try:
        started = time.perf_counter()
        comps = recorder.complete_batch("t/overlap", [_req(f"p{i}") for i in range(6)])
        elapsed = time.perf_counter() - started
    finally:
        recorder.close()
        store.close()
    assert [c.text for c in comps] == [f"echo: p{i}" for i in range(6)]
    assert elapsed < 1.0, f"6 requests of 0.3 s took {elapsed:.2f} s: they did not overlap"
