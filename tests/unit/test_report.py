"""The report and ``show`` on real stores: self-contained HTML with every section the store supports,
the lineage linked both ways, a transfer table only when the store holds one, one-line user errors,
and no heavy import on ``import selftaught``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import FIXED_MAX, scripted_config

from selftaught.analysis import analyse_run
from selftaught.cli.main import main
from selftaught.experiments.sandbox_flag import run_sandbox_flag
from selftaught.improvers import improver_source
from selftaught.models.scripted import ScriptedModel
from selftaught.report import write_report
from selftaught.report.data import load as load_report_data
from selftaught.store import CompletionRecord, RunStore

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def finished_run(run_scripted) -> Path:
    annealing = (FIXTURES / "strategies" / "simulated_annealing.py").read_text()

    def respond(request) -> str:
        return f"```python\n{annealing}\n```" if "improve_algorithm" in request.user else FIXED_MAX

    result, _ = run_scripted(respond, improver="seed", iterations=1)
    return result.run_dir


def test_report_is_self_contained_and_links_the_lineage(finished_run: Path) -> None:
    analyse_run(finished_run)
    html = write_report(finished_run).read_text()
    for section in ("curves", "usage", "strategies", "findings", "verdicts", "lineage"):
        assert f'id="{section}"' in html and f'href="#{section}"' in html
    assert 'id="transfer"' not in html and 'id="sandbox-flag"' not in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html
    versions = re.findall(r'<section class="version" id="(v-[0-9a-f]{12})"', html)
    assert len(versions) == 2
    seed, child = versions
    assert f'parent <a href="#{seed}">' in html and f'children <a href="#{child}">' in html
    assert '<div class="hl">' in html and "simulated_annealing" in html
    assert html.count('<span class="gi">') > 3  # the diff's added lines are highlighted as insertions


def test_transfer_section_appears_only_with_transfer_results(finished_run: Path) -> None:
    from selftaught.store import TransferRecord

    store = RunStore(finished_run)
    store.put_transfer(TransferRecord("sat3", "u(s)", "ab" * 32, 30, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    store.put_transfer(TransferRecord("sat3", "I_2", "cd" * 32, 5, 0.7, 0.6, 0.8, 0.751, 0.65, 0.85))
    store.close()
    html = write_report(finished_run).read_text()
    assert 'id="transfer"' in html and "0.751 [0.650, 0.850] n=5" in html and "sat3" in html
    assert "û(I_2)" in html


def test_sandbox_flag_directory_reports_its_rates(tmp_path: Path) -> None:
    seed, _ = improver_source("seed_sandbox_flag")
    off = seed.replace("use_sandbox=True", "use_sandbox=False")
    model = ScriptedModel(replies=[f"```python\n{off}\n```", f"```python\n{seed}\n```"])
    run_sandbox_flag(scripted_config(), 4, run_dir=tmp_path / "flag", provider=model)
    assert main(["report", str(tmp_path / "flag")]) == 0
    html = (tmp_path / "flag" / "report.html").read_text()
    assert 'id="sandbox-flag"' in html and "2/4 = 50.0%" in html
    assert "sandbox-disabled" in html  # the audit flags the disabling samples too


def test_show_prints_the_essentials(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(finished_run)]) == 0
    out = capsys.readouterr().out
    for needle in ("95% CIs", "model completions", "instance verdicts", "audit:", "reward hacking:",
                   "lineage:", "simulated_annealing"):
        assert needle in out


def test_show_and_the_report_print_the_same_usage_and_per_task_figures(run_scripted, capsys) -> None:
    mixture = f"max_list,{Path(__file__).resolve().parents[2] / 'examples' / 'custom_task.py'}"
    result, _ = run_scripted(lambda request: FIXED_MAX, task=mixture, improver="seed", iterations=0)
    store = RunStore(result.run_dir)  # a priced reply cut at the token cap, so every figure is non-trivial
    store.put_completion(CompletionRecord("cut", "t1/improve", 0, "openai:gpt-4o-mini", {"model": "gpt-4o-mini"},
                                          "```python\n", 1234, 4000, 1.0, "meta", "length"))
    store.close()
    assert main(["show", str(result.run_dir), "--no-analyze"]) == 0
    shown = capsys.readouterr().out
    html = write_report(result.run_dir).read_text()
    d = load_report_data(result.run_dir)
    assert len(d.task_splits) == 1 and list(d.task_splits[0].per_task) == ["max_list", "second_largest"]
    assert d.cut_replies == {"meta": (1, 1)} and ("gpt-4o-mini", "meta") in d.usage
    figures = [f"{val:.3f} / {test:.3f}" for split in d.task_splits for val, test in split.per_task.values()]
    figures += [f for u in d.usage.values()
                for f in (f"{u.calls:,}", f"{u.prompt_tokens:,}", f"{u.completion_tokens:,}", f"{u.usd:.4f}")]
    figures.append("meta 1 of 1")
    for figure in figures:
        assert figure in shown and figure in html, figure


@pytest.mark.parametrize("command", ["report", "show", "analyze"])
def test_a_wrong_directory_is_a_one_line_error(command: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a selftaught run" in err and "\n" not in err


def test_import_selftaught_stays_light() -> None:
    code = ("import sys, selftaught, selftaught.report, selftaught.analysis; "
            "print(sorted(m for m in ('matplotlib', 'pygments') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_finished_run_ends_with_its_analysis_line(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from selftaught.analysis.findings_store import FindingsTable
    from selftaught.cli.report import print_analysis

    print_analysis(finished_run)
    out = capsys.readouterr().out
    assert "analysis: 0 audit" in out and "model-written strategies: simulated_annealing" in out
    with FindingsTable(finished_run) as table:
        assert {f.analyzer for f in table.all()} == {"strategies"}  # recorded in the run's store


def test_analyze_counts_strategies_across_runs(finished_run: Path, run_scripted,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    other, _ = run_scripted(lambda r: FIXED_MAX, name="other", improver="seed", iterations=0)
    assert main(["analyze", str(finished_run), str(other.run_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "strategy labels (improver versions): simulated_annealing 1; plain 2" in out
