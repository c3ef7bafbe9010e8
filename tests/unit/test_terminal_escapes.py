"""Program text reaches the terminal without control sequences and without being read as rich markup:
``clean`` itself, then a hostile improver through the real CLI (``run``, ``evaluate``, ``show``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from selftaught.cli.terminal import SafeConsole, clean, untrusted

ESC = "\x1b"
#: Clear screen, cursor home, erase line, OSC 52 (clipboard), a title, 8-bit CSI, a reset, bidi override,
#: a carriage return, rich markup and a lone surrogate: all in one exception message.
HOSTILE = ("\x1b[2J\x1b[H\x1b[2K\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;owned\x1b\\\x9b31m\x1bc\u202eevil\u202c"
           "\rpwned [bold red]MARKUP[/] [link=http://x]l[/link] \ud800 end")


@pytest.mark.parametrize(("raw", "want"), [
    ("a\x1b[31mred\x1b[0m b", "ared b"),
    ("\x1b[2J\x1b[Hx", "x"),
    ("x\x1b]52;c;ZXZpbA==\x07y", "xy"),
    ("x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\y", "xlinky"),
    ("x\x1b]0;title never ends", "x"),
    ("x\x9b2Jy\x9d0;t\x9cz", "xyz"),
    ("x\x1bcy\x1b(Bz", "xyz"),
    ("a\rb\x08c\x00d\x7fe\x85f", "abcdef"),
    ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
    ("\u202eabc\u202c \u2066d\u2069", "abc d"),
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("ünïcödé ✓ 中文", "ünïcödé ✓ 中文"),
])
def test_clean_removes_control_sequences_and_keeps_text(raw: str, want: str) -> None:
    assert clean(raw) == want


def test_untrusted_escapes_markup_after_cutting() -> None:
    console = SafeConsole(record=True, width=200, highlight=False, emoji=False)
    console.print(f"[yellow]note: {untrusted('[bold]x[/] [link=http://e]y[/link] tail' + chr(92), 60)}[/] end")
    assert console.export_text().strip() == "note: [bold]x[/] [link=http://e]y[/link] tail" + chr(92) + " end"
    console.print("[red]ok[/] " + untrusted("[" * 50, 10))
    assert console.export_text().strip() == "ok " + "[" * 10


def test_the_console_cleans_every_string_it_renders() -> None:
    """A place that forgets ``clean`` still prints no control sequence: tables and markup=False too."""
    from rich.table import Table

    console = SafeConsole(record=True, width=200, force_terminal=False)
    table = Table()
    table.add_column("c")
    table.add_row("x\x1b[2Jy")
    console.print(table)
    console.print("a\x1b]52;c;Zm9v\x07b", markup=False)
    assert ESC not in console.export_text() and "\x07" not in console.export_text()


@pytest.mark.parametrize("chunk", ["\x1b[", "\x1b]", "\x9b1;", "\x1b[1;", "\x1b(" , "\x1b]52;c;\x1b"])
def test_clean_is_linear(chunk: str) -> None:
    """A megabyte of unterminated sequences costs about what a megabyte of text does."""
    hostile = chunk * (1_000_000 // len(chunk))
    started = time.process_time()
    clean(hostile)
    assert time.process_time() - started < 1.0


# ---- through the real CLI -------------------------------------------------------------------------------

IMPROVER = f'''
HOSTILE = {HOSTILE!r}

def improve_algorithm(initial_solution, utility, language_model):
    """Fails with a message built to take over the terminal that shows it."""
    raise RuntimeError(HOSTILE)
'''


class _Model(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint on loopback whose replies carry escape sequences too."""

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "x"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send({"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "```python\n" + HOSTILE + "\n```"}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _selftaught(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selftaught.cli.main", *args], capture_output=True, cwd=cwd,
                          timeout=300, check=False)


def _assert_safe(proc: subprocess.CompletedProcess) -> str:
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    for bad in (ESC, "\x07", "\x9b", "\r", "\u202e", "\x00"):
        assert bad not in out, (bad, out[-2000:])
    return out


def test_a_hostile_exception_through_run_evaluate_and_show(tmp_path: Path, model_url: str) -> None:
    improver = tmp_path / "hostile.py"
    improver.write_text(IMPROVER)
    model = ["--model", "openai", "--base-url", model_url, "--model-name", "fake", "--task", "max_list"]
    sets = ["--set", "budget.meta_utility_tests=2", "--set", "budget.improver_seconds=30"]
    run = _selftaught(tmp_path, "run", "--improver", str(improver), "--iterations", "1", "--no-live-report",
                      *model, *sets)
    out = _assert_safe(run)
    assert run.returncode == 0, out[-3000:]
    assert "pwned [bold red]MARKUP[/]" in out  # the text itself is shown, markup and all, as text
    run_dir = next((tmp_path / "runs").iterdir())

    evaluate = _selftaught(tmp_path, "evaluate", "--improver", str(improver), *model, *sets)
    out = _assert_safe(evaluate)
    assert evaluate.returncode == 0, out[-3000:]
    assert "pwned [bold" in out

    show = _selftaught(tmp_path, "show", str(run_dir))
    out = _assert_safe(show)
    assert show.returncode == 0, out[-3000:]
    assert "pwned [bold red]MARKUP[/]" in out
