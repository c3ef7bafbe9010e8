"""A tiny OpenAI-compatible chat server on loopback that answers after a fixed delay.

For benchmarks (latency of concurrent ``batch_prompt``) and CLI tests that need a model over real HTTP
without loading one. Every request is answered on its own thread after ``delay`` seconds with
``reply(user_message)``; usage counts are whitespace-separated words.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": self.server.model, "object": "model"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        user = next((m["content"] for m in reversed(request.get("messages", [])) if m["role"] == "user"), "")
        time.sleep(self.server.delay)
        text = self.server.reply(user)
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        self._send({"id": "x", "object": "chat.completion", "created": int(time.time()), "model": self.server.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": len(text.split()),
                              "total_tokens": prompt + len(text.split())}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    delay: float
    model: str
    reply: Callable[[str], str]


@contextmanager
def serve(delay: float = 0.0, reply: Callable[[str], str] = lambda user: "ok",
          model: str = "fake") -> Iterator[str]:
    """Run the server for the ``with`` block; yields its base URL (``http://127.0.0.1:PORT/v1``)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.delay, server.reply, server.model = delay, reply, model
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
