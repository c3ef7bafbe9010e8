"""The report of a run in progress: rewritten while the run goes, and reloading itself in the browser.

A STOP run against a paid model lasts hours; its report should not wait for the end. ``LiveReport`` is a
reporter (it receives the engine's progress events): after the run starts, every meta-utility
evaluation and every finished iteration, it rewrites ``report.html`` from the store. Rendering happens in
one background thread that coalesces requests (a burst of events costs one rewrite), so the run never
waits on matplotlib, and that rests ``RENDER_SHARE`` times as long as its last rewrite took (at most
``MAX_REST`` seconds) before the next: a rewrite costs 1-2 s of CPU and holds the GIL in the run's own
process. With a rest of 10x, the quick start took 95-103 s against 80-91 s without the live report
(alternating, 2 rounds); with 30x, 84 s against 86 s. Every write is atomic (a temporary file renamed over the report), so a browser
reloading at any moment reads a whole page, old or new, never half of one.

While the store's status is ``running`` the page says so and asks the browser to reload it every few
seconds (a ``<meta http-equiv="refresh">``, no script); the final page is the ordinary report.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from selftaught.errors import OutputError
from selftaught.report.data import load
from selftaught.report.html import render
from selftaught.store.sqlite import ABANDONED

#: Events after which the page is rewritten.
REWRITE_ON = frozenset({"run_start", "meta_evaluation", "iteration_end"})
#: Rest after a rewrite, as a multiple of the time it took: the report uses at most ~1/(1+RENDER_SHARE) of
#: a core. A rewrite asked for meanwhile happens when the rest ends; none is dropped.
RENDER_SHARE = 30
#: Longest rest between rewrites (seconds), so the page is never much older than this.
MAX_REST = 60.0


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one rename: a reader sees the old file or the new one, whole. The
    OS's refusal (no such directory, read-only, full) is one line naming the path."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _unwritable(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unwritable(path: Path, exc: OSError) -> OutputError:
    where = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be written ({exc.strerror or exc})"
    return OutputError(f"cannot write {path}: its directory {path.parent} {where}; pass --out with a writable "
                       "place")


def write_live(run_dir: Path, out: Path | None = None, reload_seconds: int = 5) -> Path:
    """Render the run's report once, as it stands, atomically; a running run's page reloads itself."""
    out = Path(out) if out else Path(run_dir) / "report.html"
    write_atomically(out, render(load(Path(run_dir)), reload_seconds=reload_seconds))
    return out


class LiveReport:
    """A reporter that keeps ``RUN_DIR/report.html`` current while the run goes, then passes every event
    on to ``inner`` (e.g. the console). The run directory comes from the ``run_start`` event, so it
    works for new and resumed runs alike. ``close()`` writes the final page and stops the thread."""

    def __init__(self, inner: Any = None, out: Path | None = None, reload_seconds: int = 5) -> None:
        self.inner = inner
        self.out = out
        self.reload_seconds = reload_seconds
        self.run_dir: Path | None = None
        self.writes = 0
        #: the error of the last write, if it failed (a report must never stop the run it reports on)
        self.error: str | None = None
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-report", daemon=True)

    def event(self, name: str, **fields: Any) -> None:
        if self.inner is not None:
            self.inner.event(name, **fields)
        if name == "run_start" and self.run_dir is None:
            self.run_dir = Path(fields["run_dir"])
            self._thread.start()
        if name in REWRITE_ON and self.run_dir is not None:
            self._wanted.set()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping.is_set():
                return
            self._wanted.clear()
            started = time.monotonic()
            self._write()
            self._stopping.wait(min(MAX_REST, RENDER_SHARE * (time.monotonic() - started)))

    def _write(self) -> None:
        assert self.run_dir is not None
        try:
            write_live(self.run_dir, self.out, self.reload_seconds)
            self.writes, self.error = self.writes + 1, None
        except Exception as exc:  # noqa: BLE001 - the run goes on; close() reports it
            self.error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)

    def close(self) -> Path | None:
        """Stop rewriting and write the page once more as the store now stands (finished, stopped)."""
        if self.run_dir is None:
            return None
        self._stopping.set()
        self._wanted.set()
        self._thread.join()
        self._write()
        return Path(self.out) if self.out else self.run_dir / "report.html"


def _fingerprint(run_dir: Path) -> tuple[int, ...]:
    """Changes whenever the store is written (SQLite in WAL mode writes the -wal file first)."""
    files = [run_dir / "run.sqlite", run_dir / "run.sqlite-wal"]
    return tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in files)


def _status(run_dir: Path) -> str:
    from selftaught.store import RunStore

    store = RunStore(run_dir, check=False)  # polled every few seconds; the page's own read checks it
    try:
        status, reason = store.status()
        return "abandoned" if reason == ABANDONED else status
    finally:
        store.close()


def watch(run_dir: Path, out: Path | None = None, interval: float = 2.0, reload_seconds: int = 5,
          on_write: Callable[[Path, str], None] | None = None) -> Path:
    """Keep the report of a run started elsewhere current: rewrite it whenever the store changes, until
    the run is no longer running (then once more, as the final page). Returns the page's path."""
    run_dir = Path(run_dir)
    seen: tuple[int, ...] | None = None
    abandoned = 0
    while True:
        status = _status(run_dir)  # read before rendering: the page is at least as new as this status
        # marked 'running' with no process holding it: killed (kill -9), unless a run that is starting
        # has not taken its lock yet, so only when the next poll says so too
        abandoned = abandoned + 1 if status == "abandoned" else 0
        if abandoned == 1:
            status = "running"
        now = _fingerprint(run_dir)
        if now != seen or status != "running":
            seen = now
            page = write_live(run_dir, out, reload_seconds)
            if on_write is not None:
                on_write(page, status)
        if status != "running":
            return page
        time.sleep(interval)


#: What the server answers before the first page is written: it reloads itself until there is one.
WAITING = ('<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">'
           "<title>selftaught: waiting for the report</title></head><body><p>The report of this run is not "
           "written yet (it is, once the run has started); this page reloads every 2 s.</p></body></html>")
#: How long ``report --watch --port`` keeps serving after the final page: a tab that reloads every
#: ``reload_seconds`` (5) gets it, however its reloads fall.
LINGER_SECONDS = 12.0


def serve(page: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``page`` alone (not the run directory beside it) on loopback in a daemon thread; returns the
    server and the page's URL. Every request reads the file afresh: it is rewritten by rename."""
    handler = type("PageHandler", (_PageHandler,), {"page": Path(page)})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="report-server", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/{page.name}"


class _PageHandler(BaseHTTPRequestHandler):
    page: Path

    def do_GET(self) -> None:  # the base class's name
        if self.path.split("?")[0] not in ("/", f"/{self.page.name}"):
            self.send_error(404)
            return
        try:
            body, status = self.page.read_bytes(), 200
        except FileNotFoundError:  # not written yet: a page that says so and asks again, not a bare 404
            body, status = WAITING.encode(), 503
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "2")
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the base class's names
        pass
