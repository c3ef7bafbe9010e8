"""The live report of a run in progress, in a real headless Chromium: the page shows the iterations so
far and says the run is running; a browser left open on it reloads it by itself and follows the run to
its final page.

Model replies are SCRIPTED (tests/live.py holds the run inside iteration 1 until the test lets it go);
sandbox, store, report and browser are real. The open browser is watched through Chromium's DevTools
HTTP endpoint (``/json/list``: each tab's URL and title; the report's title carries status and span).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from tests.integration.test_report_browser import CHROMIUM, FLAGS, _chromium
from tests.live import paused_run, wait_for

from selftaught.report.live import LiveReport

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's headless chromium: run scripts/install_browser.sh"),
]


def _titles(port: int, page: Path) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
        tabs = json.load(reply)
    return [t["title"] for t in tabs if t.get("type") == "page" and t.get("url") == page.as_uri()]


def _devtools_port(log: Path) -> int | None:
    found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


def test_a_run_in_progress_is_shown_as_running_and_followed_to_its_end(tmp_path: Path) -> None:
    live = LiveReport(reload_seconds=1)
    run_dir = tmp_path / "run"
    page = run_dir / "report.html"
    log = tmp_path / "chromium.log"
    browser = None
    try:
        with paused_run(run_dir, live) as gate:
            wait_for(lambda: page.exists() and "t = 0..0" in page.read_text())
            # what the page shows while the run waits inside iteration 1
            dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
            assert re.search(r'<p id="live" class="live">Run in progress: 1 iteration\(s\) so far, updated '
                             r"\d\d:\d\d:\d\d UTC; this page reloads every 1 s\.", dom), dom[:2000]
            assert "status running" in dom and "iterations t = 0..0" in dom
            curves = dom[dom.index('<section id="curves">'):dom.index('<section id="usage">')]
            assert len(re.findall(r"<tr>", curves)) == 2  # the header and iteration 0

            # a browser left open on the page follows the run by itself
            with log.open("w") as err:
                browser = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'open'}",
                                            "--remote-debugging-port=0", page.as_uri()],
                                           stdout=subprocess.DEVNULL, stderr=err)
            wait_for(lambda: _devtools_port(log) is not None, 60)
            port = _devtools_port(log)
            assert port is not None
            wait_for(lambda: _titles(port, page) == ["selftaught report: run (running, t = 0..0)"], 60)
            gate.set()
        live.close()  # the final page (finished): it no longer reloads
        wait_for(lambda: _titles(port, page) == ["selftaught report: run (finished, t = 0..1)"], 60)
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(30)
    final = page.read_text()
    assert "http-equiv" not in final and 'id="live"' not in final and live.writes >= 3
