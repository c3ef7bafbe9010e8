"""An OpenAI-compatible chat server on loopback that misbehaves on demand, the way real ones do.

Replies are SCRIPTED (a deterministic function of the request and its sampling seed), so a run against
this server is reproducible and a resumed run can be compared with an uninterrupted one. What is real:
the HTTP server, the ``openai`` client, our retries and error translation, the sandbox and the store.

``misbehave(mode, after=N, times=K)``: after N good chat replies, the next K requests (all, if K is None)
fail in ``mode``:

- ``429`` / ``500``: that status with an error body (429 with ``Retry-After: 0``)
- ``slow``: answers only after ``slow_seconds`` (longer than the client's ``model.timeout``)
- ``badjson``: a 200 whose body is not JSON
- ``nochoices``: a 200 completion with ``choices: []``
- ``nofinish``: a 200 completion whose choice has no ``finish_reason`` and no content (a cut reply)
- ``cut``: a 200 whose body stops half-way and the connection closes
- ``badcontent``: a 200 completion whose message content is a list, not text
- ``notjson``: a 200 whose body is HTML (a proxy's error page)
- ``trickle``: a good reply sent one byte every ``trickle_seconds`` (each read is quick; the whole is not)
- ``huge``: a 200 completion whose content is ``huge_bytes`` long (far more than max_tokens allows)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("429", "500", "slow", "badjson", "nochoices", "nofinish", "cut", "trickle", "huge")
#: Odder shapes, checked against the provider alone (tests/unit/test_fault_handling.py).
EXTRA_MODES = ("badcontent", "notjson")
Responder = Callable[[str, str, int], str]  # (system, user, seed) -> reply text

IMPROVER = (
    "from helpers import extract_code\n\n"
    "def improve_algorithm(initial_solution, utility, language_model):\n"
    "    replies = language_model.batch_prompt('Be brief.', ['Fix:\\n' + initial_solution] * %d, 0.3)\n"
    "    best, score = initial_solution, utility(initial_solution)\n"
    "    for code in extract_code(replies):\n"
    "        if code and utility(code) > score:\n"
    "            best, score = code, utility(code)\n"
    "    return best\n")
SOLUTIONS = ["def algorithm(xs):\n    return max(xs)\n", "def algorithm(xs):\n    return xs[-1]\n",
             "no code, sorry", "def algorithm(xs):\n    return sorted(xs)[len(xs) // 2]\n"]


def scripted_reply(system: str, user: str, seed: int) -> str:
    """Improvers for prompts that show an improver, solutions (some wrong, some not code) otherwise."""
    if "improve_algorithm" in user:
        return "```python\n" + IMPROVER % (1 + seed % 2) + "```" if seed % 4 else "no"
    body = SOLUTIONS[seed % 4]
    return "```python\n" + body + "```" if "def" in body else body


@dataclass
class _Plan:
    mode: str | None = None
    after: int = 0
    times: int | None = None


class FaultServer:
    """Serves ``/v1/models`` and ``/v1/chat/completions`` on 127.0.0.1; see the module docstring."""

    def __init__(self, responder: Responder = scripted_reply, model: str = "fault", slow_seconds: float = 3.0,
                 delay: float = 0.0, trickle_seconds: float = 0.5, huge_bytes: int = 50 << 20):
        self.responder = responder
        self.delay = delay  # seconds per good reply: a slower model, so signals land mid-run
        self.model = model
        self.slow_seconds = slow_seconds
        self.trickle_seconds = trickle_seconds
        self.huge_bytes = huge_bytes
        self.good = 0  # chat requests let through to a good reply
        self.faults = 0  # requests answered in the planned bad way
        self._plan = _Plan()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def misbehave(self, mode: str, *, after: int = 0, times: int | None = None) -> None:
        assert mode in MODES + EXTRA_MODES, mode
        with self._lock:
            self._plan = _Plan(mode, self.good + after, times)
            self.faults = 0

    def behave(self) -> None:
        with self._lock:
            self._plan = _Plan()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> str | None:
        with self._lock:
            plan = self._plan
            if plan.mode is None or self.good < plan.after or (plan.times is not None and self.faults >= plan.times):
                self.good += 1  # counted here, under the lock: concurrent requests cannot overshoot 'after'
                return None
            self.faults += 1
            return plan.mode

    def _reply(self, body: dict) -> dict:
        messages = body.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = messages[-1]["content"] if messages else ""
        text = self.responder(system, user, int(body.get("seed") or 0))
        time.sleep(self.delay)
        return {"id": "cmpl-fault", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split()),
                          "total_tokens": len(user.split()) + len(text.split())}}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up (timeout, kill) is the point of these tests, not an error


def _handler(state: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None,
                  length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, json.dumps({"object": "list", "data": [
                    {"id": state.model, "object": "model", "created": 0, "owned_by": "test"}]}).encode())
            else:
                self._send(404, b'{"error": {"message": "no such route"}}')

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            fault = state._next_fault()
            if fault is None:
                self._send(200, json.dumps(state._reply(body)).encode())
            elif fault in ("429", "500"):
                self._send(int(fault), b'{"error": {"message": "overloaded, try later"}}',
                           {"Retry-After": "0"} if fault == "429" else None)
            elif fault == "slow":
                time.sleep(state.slow_seconds)
                self._send(200, json.dumps(state._reply(body)).encode())
            elif fault == "badjson":
                self._send(200, b'{"id": "cmpl-fault", "choices": [{"ind')
            elif fault == "nochoices":
                self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                            "model": body.get("model"), "choices": []}).encode())
            elif fault == "nofinish":
                self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                            "model": body.get("model"), "choices": [
                                                {"index": 0, "finish_reason": None,
                                                 "message": {"role": "assistant", "content": ""}}]}).encode())
            elif fault == "badcontent":
                self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": [1]}}]}).encode())
            elif fault == "notjson":
                self._send(200, b"<html><body>502 Bad Gateway</body></html>", {"X-Note": "html"})
            elif fault == "trickle":
                data = json.dumps(state._reply(body)).encode()
                self._send(200, b"", length=len(data))
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(state.trickle_seconds)
            elif fault == "huge":
                head = (b'{"id": "x", "object": "chat.completion", "created": 0, "choices": [{"index": 0, '
                        b'"finish_reason": "stop", "message": {"role": "assistant", "content": "')
                tail = b'"}}]}'
                self._send(200, head, length=len(head) + state.huge_bytes + len(tail))
                chunk = b"x" * (1 << 16)
                for _ in range(state.huge_bytes // len(chunk)):
                    self.wfile.write(chunk)
                self.wfile.write(b"x" * (state.huge_bytes % len(chunk)) + tail)
            elif fault == "cut":
                self._send(200, b'{"id": "cmpl-fault", "choices": [', length=4096)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler
