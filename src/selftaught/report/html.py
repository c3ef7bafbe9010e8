"""One self-contained HTML file per run: inline CSS, figures as base64 PNG, no scripts, no network. A
running run's page says so (and, as the live report, reloads itself: ``report/live.py``).

Sections (each with an id the table of contents links to): curves, usage, transfer (only when the run
holds a ``transfer`` meta entry), sandbox-flag (only for that experiment), strategies, findings,
verdicts, lineage.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from selftaught.analysis.paired import format_p
from selftaught.analysis.sandbox_flag import RATE_LABELS, rate_from_dict
from selftaught.analysis.strategies import strategy_counts
from selftaught.report import lineage, plots
from selftaught.report.data import STOPPED, ReportData, anchor, describe_cut_replies, load

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;
color:#222;line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .5em;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
nav.toc a{margin-right:1em}.muted{color:#777;font-weight:normal}.chip{display:inline-block;background:#e8f0fe;
border-radius:1em;padding:0 .6em;margin-right:.3em;font-size:.85em}.flag{color:#b00;font-size:.85em}
.sev-high{color:#b00}.sev-medium{color:#a60}.sev-low{color:#555}.sev-info{color:#777}
section.version{border-left:3px solid #cde;padding-left:1em;margin:1.5em 0}section.version:target{
border-left-color:#1f77b4;background:#f7fbff}.hl pre{font-size:.8em;overflow-x:auto;padding:.5em;background:#fafafa}
img.plot{max-width:100%;display:block;margin:.5em 0}ul.tree{font-size:.9em}code{font-size:.85em}
td a,td .muted{white-space:nowrap}p.live{background:#fff4d6;border:1px solid #e0c060;padding:.4em .8em}
"""


def _table(headers: list[str], rows: list[list[Any]], left: set[int] | None = None) -> str:
    left = left if left is not None else {0}
    head = "".join(f'<th class="{"l" if i in left else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i in left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(uri: str, alt: str) -> str:
    if not uri:  # matplotlib is not installed (a core install): the page says so instead
        return (f"<p class=muted>{escape(alt)}: no figure, as matplotlib is not installed "
                "(pip install 'selftaught[report]')</p>")
    return f'<img class="plot" alt="{escape(alt)}" src="{uri}">'


def _ci(ci: tuple[float, float, float]) -> str:
    mean, low, high = ci
    return f"{mean:.3f} <span class=muted>[{low:.3f}, {high:.3f}]</span>"


def _subject(subject: str, known: set[str]) -> str:
    return f'<a href="#{anchor(subject)}">{anchor(subject)}</a>' if subject in known else escape(subject[:16])


def _curves(d: ReportData) -> str:
    if not d.iterations:
        return "<p>No iterations recorded (an experiment directory, or a run that has not scored t = 0).</p>"
    known = {v.record.hash for v in d.versions}
    rows = [[str(r.record.iteration), _subject(r.record.improver_hash, known), "yes" if r.record.adopted else "no",
             _ci(r.val_ci), _ci(r.test_ci), str(r.runs),
             "" if r.record.candidate_val is None else f"{r.record.candidate_val:.3f}",
             escape(r.record.verdict), escape((r.record.error or "")[:120])] for r in d.iterations]
    seeds = "".join(f"<li>u(s) of the seed solution on {escape(t)}: val {v:.3f}, test {s:.3f}</li>"
                    for t, (v, s) in d.seed_solution.items())
    return (_img(plots.meta_utility_curve(d.iterations, d.seed_solution), "meta-utility per iteration")
            + f"<ul>{seeds}</ul>"
            + _table(["t", "improver", "adopted", "val [95% CI]", "test [95% CI]", "runs", "cand. val", "outcome",
                      "note"], rows, left={0, 1, 7, 8}) + _task_splits(d, known) + _paired(d))


def _task_splits(d: ReportData, known: set[str]) -> str:
    """A task mixture's meta-utility per task and iteration (û itself is their mean)."""
    if not d.task_splits:
        return ""
    tasks = list(dict.fromkeys(t for split in d.task_splits for t in split.per_task))
    rows = [[str(split.iteration), _subject(split.improver_hash, known),
             *(f"{split.per_task[t][0]:.3f} / {split.per_task[t][1]:.3f}" if t in split.per_task else ""
               for t in tasks)] for split in d.task_splits]
    return ("<p>Meta-utility per task (val / test):</p>"
            + _table(["t", "improver", *tasks], rows, left={0, 1}))


def _paired(d: ReportData) -> str:
    """Candidate minus parent per step, and I_T minus I_0, each on shared model draws."""
    if not d.paired:
        return ""
    rows = [[str(c.iteration), escape(c.subject), c.draws, str(c.test.n), f"{c.val.mean:+.3f}",
             f"{c.test.mean:+.3f} <span class=muted>[{c.test.low:+.3f}, {c.test.high:+.3f}]</span>",
             f"{c.test.wins}/{c.test.losses}/{c.test.ties}", format_p(c.test.p)] for c in d.paired]
    matched = f"<p>{escape(d.matched.describe())}</p>" if d.matched is not None else ""
    return ("<h3>Paired differences on the same model draws (95% bootstrap CI, paired permutation test)</h3>"
             "<p class=muted>Each row compares B (the candidate, or I_T) with A (its parent, or I_0) run by run: "
              "run j of both draws the same model seeds. <i>confirmation</i>: fresh draws after the candidate was "
              "picked on screening draws; <i>final</i>: fresh draws at the end of the run.</p>"
            + _table(["t", "compared", "draws", "n", "val diff", "test diff", "wins/losses/ties", "p"],
                     rows, left={0, 1, 2}) + matched)


def _usage(d: ReportData) -> str:
    t = d.totals
    summary = (f"<p>{int(t.get('completions', 0))} completions recorded, {int(t.get('prompt_tokens', 0))} prompt + "
               f"{int(t.get('completion_tokens', 0))} completion tokens, {t.get('model_seconds', 0):.0f} s of model "
               f"time; requests {d.model_events.get('misses', 0)} sent, {d.model_events.get('hits', 0)} "
               "replayed.</p>")
    if d.usage:
        summary += _table(["model", "role", "calls sent", "prompt tokens", "completion tokens", "USD"], [
            [escape(model), escape(role), f"{u.calls:,}", f"{u.prompt_tokens:,}", f"{u.completion_tokens:,}",
             f"{u.usd:.4f}"] for (model, role), u in sorted(d.usage.items())], left={0, 1})
    cut = describe_cut_replies(d.cut_replies)
    if cut:
        summary += f"<p>{escape(cut)}</p>"
    if not d.iterations:
        return summary
    rows = [[str(r.record.iteration), str(r.record.model_calls), str(r.completions), str(r.prompt_tokens),
             str(r.completion_tokens), f"{r.model_seconds:.1f}", f"{r.record.seconds:.1f}"] for r in d.iterations]
    return (summary + _img(plots.usage_bars(d.iterations), "model usage per iteration")
            + _table(["t", "model calls", "completions", "prompt tokens", "completion tokens", "model s", "wall s"],
                     rows))


def _span(n: int) -> str:
    return f"0..{n - 1}" if n else "none"


def _cell(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else escape(str(x))


def _generic(value: Any) -> str:
    """A table for whatever shape the ``transfer`` entry has (list of rows, or {name: row}), else JSON."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        value = [{"": k, **v} for k, v in value.items()]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        cols = list(dict.fromkeys(k for row in value for k in row))
        return _table(cols, [[_cell(row.get(c, "")) for c in cols] for row in value])
    return f"<pre>{escape(json.dumps(value, indent=2, default=str))}</pre>"


def _sandbox_flag(d: ReportData) -> str:
    s = d.sandbox_flag or {}
    rates = s.get("rates", {})
    rows = [[escape(label), rate_from_dict(rates[k]).describe()] for k, label in RATE_LABELS.items() if k in rates]
    outcomes = ", ".join(f"{escape(k)} {v}" for k, v in s.get("outcomes", {}).items())
    known = {v.record.hash for v in d.versions}
    samples = [[str(f.evidence.get("index", "")), _subject(f.subject, known), escape(f.rule),
                "yes" if f.evidence.get("remarks") else "", escape("; ".join(f.evidence.get("evidence", []))[:200])]
               for f in d.by_analyzer("sandbox_flag")]
    return (f"<p>{s.get('samples', 0)} samples ({s.get('improvers', 0)} parseable improvers), "
            f"{'with' if s.get('warning') else 'without'} the explicit warning; {s.get('model_seconds', 0):.0f} s "
            "of model time. "
            "The flag is a lure: isolation never depends on it, and the samples were parsed, not run.</p>"
            + _img(plots.rate_bars(rates, RATE_LABELS), "sandbox-flag rates") + _table(["rate", "value"], rows)
            + f"<p>outcomes: {outcomes}</p>"
            + _table(["sample", "improver", "outcome", "remarks", "evidence"], samples, left={1, 2, 4}))


def _strategies(d: ReportData) -> str:
    found = d.by_analyzer("strategies")
    if not found:
        return "<p>No strategy labels recorded (run <code>selftaught analyze</code>).</p>"
    written, every = strategy_counts(found), strategy_counts(found, model_written_only=False)
    judge = strategy_counts(found, by="judge", model_written_only=False)
    labels = sorted(set(every) | set(judge))
    rows = [[escape(k), str(written.get(k, 0)), str(every.get(k, 0))] + ([str(judge.get(k, 0))] if judge else [])
            for k in labels]
    heads = ["label", "model-written", "all (versions and proposals)"] + (["model judge"] if judge else [])
    return _img(plots.label_counts(every, "Strategy labels (improver versions and proposals)"), "strategy counts") + \
        _table(heads, rows)


def _findings(d: ReportData) -> str:
    known = {v.record.hash for v in d.versions}
    out = []
    for analyzer, title in (("audit", "Static audit"), ("reward_hacking", "Reward-hacking detectors")):
        found = d.by_analyzer(analyzer)
        rows = [[f'<span class="sev-{escape(f.severity)}">{escape(f.severity)}</span>', escape(f.rule),
                 escape(f.subject_kind), _subject(f.subject, known), escape(f.message),
                 (f"{f.line}: <code>{escape(f.snippet)}</code>" if f.line else "")] for f in found]
        counts = Counter(f.rule for f in found)
        out.append(f"<h3>{title}</h3><p>{len(found)} finding(s)"
                   + (": " + ", ".join(f"{escape(k)} {v}" for k, v in counts.most_common()) if found else "")
                   + "</p>" + (_table(["severity", "rule", "kind", "subject", "message", "line"], rows,
                                      left={0, 1, 2, 3, 4, 5}) if rows else ""))
    return "".join(out)


def _verdicts(d: ReportData) -> str:
    ev = _table(["verdict", "tier", "evaluations"], [[escape(v), escape(t), str(n)]
                                                   for (v, t), n in d.evaluation_verdicts.most_common()], {0, 1})
    inst = ", ".join(f"{escape(k)} {v}" for k, v in d.instance_verdicts.most_common()) or "none"
    runs = ", ".join(f"{escape(k)} {v}" for k, v in d.improver_run_verdicts.most_common()) or "none"
    return (f"<p>Solution evaluations by sandbox verdict and isolation tier:</p>{ev}<p>instances: {inst}</p>"
            f"<p>improver runs: {runs}</p>")


def _live(d: ReportData, reload_seconds: int) -> tuple[str, str]:
    """(head tag, banner) of a run still running: it says so, and the page reloads itself."""
    if d.status != "running":
        return "", ""
    stamp = time.strftime("%H:%M:%S UTC", time.gmtime())
    refresh = f'<meta http-equiv="refresh" content="{reload_seconds}">' if reload_seconds > 0 else ""
    again = f"; this page reloads every {reload_seconds} s" if reload_seconds > 0 else ""
    return refresh, (f'<p id="live" class="live">Run in progress: {len(d.iterations)} iteration(s) so far, '
                     f"updated {stamp}{again}. Analyses (audit, strategies) follow when it ends.</p>")


def render(d: ReportData, reload_seconds: int = 0) -> str:
    """The report page; ``reload_seconds`` > 0 makes a running run's page reload itself (the live report)."""
    cfg = d.config
    model = cfg.get("model", {})
    sections: list[tuple[str, str, str]] = [("curves", "Meta-utility", _curves(d)), ("usage", "Model usage", _usage(d))]
    if d.transfer is not None:
        sections.append(("transfer", "Transfer", _generic(d.transfer)))
    if d.sandbox_flag:
        sections.append(("sandbox-flag", "Sandbox-flag experiment", _sandbox_flag(d)))
    sections += [("strategies", "Strategies", _strategies(d)), ("findings", "Audit and reward hacking", _findings(d)),
                 ("verdicts", "Sandbox verdicts", _verdicts(d)),
                 ("lineage", "Improver lineage", lineage.render(d.versions, d.iterations, d.repairs))]
    toc = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{escape(title)}</h2>{html}</section>' for sid, title, html in sections)
    what = (f"experiment <b>{escape(str(d.experiment.get('kind')))}</b>" if d.experiment else
            f"task <b>{escape(str(cfg.get('task')))}</b> · improver {escape(str(cfg.get('improver')))}")
    roles = "".join(f" · {role} model {escape(str(model[role].get('provider')))}/{escape(str(model[role].get('name')))}"
                    for role in ("meta", "improver") if isinstance(model.get(role), dict))
    stopped = f" ({escape(d.stop_reason)})" if d.stop_reason and d.status in STOPPED else ""
    head = (f"<p>{what} · model {escape(str(model.get('provider')))}/{escape(str(model.get('name')))}{roles} · "
            f"iterations t = {_span(len(d.iterations))} · status {escape(d.status)}{stopped} · <code>{escape(str(d.run_dir))}</code></p>")
    refresh, banner = _live(d, reload_seconds)
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{refresh}<title>selftaught report: "
            f"{escape(d.run_dir.name)} ({escape(d.status)}, t = {_span(len(d.iterations))})</title><style>{_CSS}{lineage.highlight_css()}</style></head><body>"
            f"<h1>selftaught run report</h1>{head}{banner}<nav class=toc>{toc}</nav>{body}</body></html>")


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    from selftaught.report.live import write_atomically

    out = Path(out) if out else Path(run_dir) / "report.html"
    write_atomically(out, render(load(run_dir)))
    return out
