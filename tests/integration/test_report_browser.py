"""The HTML report in a real headless Chromium (Debian's ``chromium``; ``scripts/install_browser.sh``):
every plot decodes to a real image, every in-page link resolves, clicking through the lineage lands on
the version it names, and the rendered page is not blank.

The checks run as a script appended to a *copy* of the report (the report itself has no scripts), and
Chromium's ``--dump-dom`` hands back the DOM the script wrote its results into.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX, scripted_config

from selftaught.analysis import analyse_run
from selftaught.engine.runner import start_run
from selftaught.models.scripted import ScriptedModel
from selftaught.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's headless chromium: run scripts/install_browser.sh"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]
FIXTURES = Path(__file__).parents[1] / "fixtures"

CHECK = """
<script>
window.addEventListener('load', () => {
  const out = {};
  out.images = [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, ok: i.complete}));
  const links = [...document.querySelectorAll('a[href^="#"]')];
  out.links = links.length;
  out.dangling = links.map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id));
  out.versions = [...document.querySelectorAll('section.version')].map(s => s.id);
  const child = document.querySelector('section.version p.nav a[href^="#v-"]');
  out.clicked = child ? child.getAttribute('href').slice(1) : null;
  if (child) child.click();
  setTimeout(() => {
    const target = document.querySelector(':target');
    out.target = target ? target.id : null;
    out.hash = location.hash;
    const pre = document.createElement('pre');
    pre.id = 'browser-check';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 200);
});
</script>
"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (scripted-model) run with two model-written improvers, analysed, reported."""
    annealing = (FIXTURES / "strategies" / "simulated_annealing.py").read_text()
    planted = (FIXTURES / "audit" / "planted" / "utility_private.py").read_text()
    asked = {"n": 0}

    def respond(request) -> str:
        if "improve_algorithm" not in request.user:
            return FIXED_MAX
        asked["n"] += 1
        return f"```python\n{annealing if asked['n'] <= 6 else planted}\n```"

    run_dir = tmp_path_factory.mktemp("browser") / "run"
    start_run(scripted_config(improver="seed", iterations=2), provider=ScriptedModel(responder=respond),
              run_dir=run_dir)
    analyse_run(run_dir)
    return write_report(run_dir)


def test_plots_render_and_the_lineage_is_navigable(report: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found, f"the check script did not run; chromium said: {proc.stderr[-2000:]}"
    out = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(out["images"]) >= 3  # meta-utility curve, usage, strategy counts
    for image in out["images"]:
        assert image["ok"] and image["w"] > 200 and image["h"] > 100, image
    assert out["links"] > 5 and out["dangling"] == []
    assert len(out["versions"]) >= 2  # the seed and at least one model-written successor
    assert out["clicked"] in out["versions"]
    assert out["target"] == out["clicked"] and out["hash"] == "#" + out["clicked"]


def test_the_rendered_page_is_not_blank(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, plots, highlighted code: far more than a blank or error page
    white = max(colours)[0] / (image.size[0] * image.size[1])
    assert white < 0.97
