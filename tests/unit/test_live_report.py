"""The live report: rewritten atomically while a run goes, saying it is running and reloading itself,
then the ordinary final page; ``selftaught report --watch`` does the same for a run started elsewhere.

Model replies are SCRIPTED (tests/live.py holds the run in iteration 1); sandbox, store, report are real.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.live import paused_run, wait_for

from selftaught.report.live import LiveReport, write_atomically


class Events:
    def __init__(self) -> None:
        self.names: list[str] = []

    def event(self, name: str, **fields: object) -> None:
        self.names.append(name)


def page(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_the_page_is_rewritten_while_the_run_goes_then_becomes_the_final_report(tmp_path):
    inner = Events()
    live = LiveReport(inner, reload_seconds=3)
    report = tmp_path / "run" / "report.html"
    with paused_run(tmp_path / "run", live):
        wait_for(lambda: "iterations t = 0..0" in page(report))
        html = page(report)
        assert '<meta http-equiv="refresh" content="3">' in html
        assert "Run in progress: 1 iteration(s) so far" in html and "status running" in html
        assert live.writes >= 1 and live.error is None
    assert live.close() == report
    html = page(report)
    assert "iterations t = 0..1" in html and "status finished" in html
    assert "http-equiv" not in html and "Run in progress" not in html
    assert {"run_start", "meta_evaluation", "iteration_end"} <= set(inner.names)  # passed on to the console
    assert not list(report.parent.glob(".report.html.*"))  # no temporary file left behind


def test_an_atomic_rewrite_is_seen_whole_or_not_at_all(tmp_path):
    path = tmp_path / "page.html"
    pages = ["a" * 200_000, "b" * 300_000]
    write_atomically(path, pages[0])
    seen: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(200):
        write_atomically(path, pages[i % 2])
    stop.set()
    reader.join()
    assert seen <= set(pages) and len(seen) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_watch_keeps_the_report_of_a_run_started_elsewhere_current_until_it_ends(tmp_path):
    run_dir = tmp_path / "run"
    report = run_dir / "report.html"
    lines: list[str] = []
    with paused_run(run_dir) as gate, (tmp_path / "stderr").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "selftaught.cli.main", "report", str(run_dir), "--watch",
                                 "--interval", "0.2", "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True)
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []))
        reader.start()
        wait_for(lambda: "Run in progress" in page(report) and any("serving it at " in x for x in lines))
        assert '<meta http-equiv="refresh" content="5">' in page(report)
        url = next(x for x in lines if "serving it at " in x).split("serving it at ")[1].strip()
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert "Run in progress" in reply.read().decode()  # the same page, over HTTP
        with pytest.raises(urllib.error.HTTPError, match="404"):  # the page alone, not the run's store
            urllib.request.urlopen(url.rsplit("/", 1)[0] + "/run.sqlite", timeout=30)
        gate.set()
        assert proc.wait(300) == 0, (tmp_path / "stderr").read_text()
    reader.join(60)
    out = "".join(lines)
    assert "rewrote report.html (run running)" in out
    assert "rewrote report.html (run finished)" in out
    html = page(report)
    assert "status finished" in html and "iterations t = 0..1" in html and "Run in progress" not in html


def test_selftaught_run_keeps_the_live_report_and_ends_with_the_final_page(tmp_path):
    from benchmarks.fake_openai import serve

    code = "```python\ndef algorithm(xs):\n    return max(xs)\n```"
    with serve(reply=lambda user: code, model="fake") as url:
        proc = subprocess.run([sys.executable, "-m", "selftaught.cli.main", "run", "--model", "openai", "--base-url",
                               url, "--model-name", "fake", "--improver", "compact", "--iterations", "1",
                               "--set", "budget.meta_utility_tests=2", "--set", "budget.meta_utility_calls=2"],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    assert f"live report: {run_dir.relative_to(tmp_path)}/report.html" in proc.stdout
    html = page(run_dir / "report.html")
    assert "status finished" in html and "iterations t = 0..1" in html and "http-equiv" not in html
    assert "No strategy labels recorded" not in html  # the final page was written after the analyses


def test_rewrites_rest_in_proportion_to_their_cost_and_none_asked_for_is_dropped(tmp_path, monkeypatch):
    """A rewrite costs CPU in the run's own process: after one, the report rests RENDER_SHARE times as long
    before the next, and a rewrite asked for during the rest happens when it ends."""
    import itertools
    import time

    from selftaught.report import live as live_module

    written: list[float] = []

    def slow_write(run_dir: Path, out: Path | None = None, reload_seconds: int = 5) -> Path:
        time.sleep(0.05)
        written.append(time.monotonic())
        return tmp_path / "report.html"

    monkeypatch.setattr(live_module, "write_live", slow_write)
    report = LiveReport()
    report.event("run_start", run_dir=str(tmp_path))
    end = time.monotonic() + 1.2
    while time.monotonic() < end:  # a burst of events, far more often than the report may rewrite
        report.event("meta_evaluation")
        time.sleep(0.01)
    asked_last = time.monotonic()
    wait_for(lambda: written and written[-1] > asked_last, 10)  # the last one asked for is written
    gaps = [b - a for a, b in itertools.pairwise(written)]
    assert 2 <= len(written) <= 4
    assert min(gaps) >= live_module.RENDER_SHARE * 0.05 * 0.9
    report.close()
    assert len(written) == report.writes


def test_a_core_install_without_matplotlib_still_reaches_the_final_page(tmp_path, monkeypatch):
    """No ``report`` extra: the pages go without figures (and say so) instead of failing after the first,
    which left the page saying 'running' forever."""
    from tests.conftest import FIXED_MAX, scripted_config

    from selftaught.engine.runner import start_run
    from selftaught.models.scripted import ScriptedModel

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    live = LiveReport(Events(), reload_seconds=3)
    try:
        start_run(scripted_config(iterations=1), reporter=live, provider=ScriptedModel(replies=[FIXED_MAX]),
                  run_dir=tmp_path / "run")
    finally:
        live.close()
    html = page(tmp_path / "run" / "report.html")
    assert live.error is None and live.writes >= 2
    assert "no figure, as matplotlib is not installed (pip install 'selftaught[report]')" in html
    assert 'http-equiv="refresh"' not in html and "(finished," in html


def test_before_the_first_page_the_server_answers_a_page_that_reloads_itself(tmp_path):
    from selftaught.report.live import serve

    server, url = serve(tmp_path / "report.html")
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=10)
        assert info.value.code == 503 and info.value.headers["Retry-After"] == "2"
        assert 'http-equiv="refresh"' in info.value.read().decode()
        (tmp_path / "report.html").write_text("<p>the page</p>")
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.read() == b"<p>the page</p>"
    finally:
        server.shutdown()
