"""``selftaught show RUN_DIR``: the essentials of a run in the terminal, read from its store (nothing is
re-run). The same ``report.data`` the HTML report renders, so the two always agree."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selftaught.analysis.findings_store import SEVERITIES
from selftaught.cli.archive import readable
from selftaught.cli.render import (
    console,
    iteration_notes,
    iteration_table,
    print_paired,
    print_usage_by_model,
)
from selftaught.cli.terminal import clean, untrusted
from selftaught.cli.transfer import transfer_table
from selftaught.report.data import STOPPED, ReportData, TaskSplit, describe_cut_replies
from selftaught.report.data import load as load_report
from selftaught.store import RunStore


def mixture_lines(splits: list[TaskSplit]) -> list[str]:
    """For a task mixture: each iteration's meta-utility split by task (û itself is their mean)."""
    if not splits:
        return []
    lines = ["meta-utility per task (val / test):"]
    for split in splits:
        cells = ", ".join(f"{t} {v:.3f} / {s:.3f}" for t, (v, s) in split.per_task.items())
        lines.append(f"  t={split.iteration} {split.improver_hash[:10]}: {cells}")
    return lines


def register(app: typer.Typer) -> None:
    @app.command()
    def show(
        run_dir: Annotated[Path, typer.Argument(help="a run directory")],
        analyze: Annotated[bool, typer.Option(help="run the analyses first (audit, reward hacking, "
                                              "strategies)")] = True,
    ) -> None:
        """Print a run's iterations with CIs, model usage, verdicts, findings, strategies and lineage."""
        with readable(run_dir) as source:  # a wrong directory is a one-line error before anything runs
            _show(run_dir, source, analyze)


def _show(run_dir: Path, source: Path, analyze: bool) -> None:
    """``run_dir`` as the user named it; ``source`` where its store is read (a copy if read-only)."""
    if analyze:
        from selftaught.analysis import analyse_run

        analyse_run(source)
    d = load_report(source)
    cfg = d.config
    model = cfg.get("model", {})
    roles = "".join(f", {role} model {model[role].get('provider')} / {model[role].get('name')}"
                    for role in ("meta", "improver") if isinstance(model.get(role), dict))
    console.print(f"run {run_dir}: task {cfg.get('task')}, model {model.get('provider')} / {model.get('name')}"
                  f"{roles}, status {d.status}", markup=False)  # a store's config may come from anywhere
    console.print(iteration_table([r.record for r in d.iterations], d.seed_solution))
    for note in iteration_notes([r.record for r in d.iterations]):
        console.print(f"  {note[:200]}", markup=False)  # errors quote programs: "[/INST]" is not markup
    if d.iterations:
        console.print(_ci_table(d))
    print_paired(d.paired, [r.record for r in d.iterations], d.matched)
    t = d.totals
    console.print(f"model completions: {int(t['completions'])} recorded, {int(t['prompt_tokens'])} prompt + "
                  f"{int(t['completion_tokens'])} completion tokens, {t['model_seconds']:.0f} s; requests: "
                  f"{d.model_events['misses']} sent, {d.model_events['hits']} replayed")
    if d.status in STOPPED:
        again = (f"selftaught experiment {d.experiment.get('kind')} --out {run_dir}" if d.experiment
                 else f"selftaught run --resume {run_dir}")
        console.print(f"stopped: {untrusted(d.stop_reason or '')} (resume with: {again})")
    print_usage_by_model(d.usage)
    cut = describe_cut_replies(d.cut_replies)
    if cut:
        console.print(untrusted(cut))
    console.print("evaluations (verdict/tier): " + _counts(Counter(
        {f"{v}/{tier}": n for (v, tier), n in d.evaluation_verdicts.items()})))
    console.print("instance verdicts: " + _counts(d.instance_verdicts))
    console.print("improver runs: " + _counts(d.improver_run_verdicts))
    for line in mixture_lines(d.task_splits):
        console.print(line)
    store = RunStore(source)
    transfers = store.transfers()
    store.close()
    if transfers:
        console.print(transfer_table(transfers))
    if d.sandbox_flag:
        _sandbox_flag(d.sandbox_flag)
    _findings(run_dir, d)


def _findings(run_dir: Path, d: ReportData) -> None:
    for analyzer in ("audit", "reward_hacking"):
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        found = sorted(d.by_analyzer(analyzer), key=lambda f: rank.get(f.severity, len(rank)))  # worst first
        console.print(f"{analyzer.replace('_', ' ')}: {len(found)} finding(s)"
                      + (": " + _counts(Counter(f.rule for f in found)) if found else ""))
        for f in found[:12]:
            where = f" (line {f.line}: {clean(f.snippet)[:60]})" if f.line else ""
            console.print(clean(f"  [{f.severity}] {f.rule} {f.subject_kind} {clean(f.subject)[:12]}: "
                                f"{clean(f.message)[:110]}{where}"), markup=False)
        if len(found) > 12:
            console.print(f"  ... {len(found) - 12} more in the HTML report (selftaught report {run_dir})")
    console.print("lineage:")
    for v in d.versions[:30]:
        parent = f"<- v-{v.record.parent[:12]}" if v.record.parent else "(root)"
        author = f" by {v.record.author}" if v.record.author else ""
        console.print(clean(f"  {v.anchor} {v.record.origin}{author} t={v.record.iteration} {parent}: "
                      f"{', '.join(v.labels) or 'unlabelled'}" + (f"; {len(v.findings)} flag(s)" if v.findings else "")
                      + (f"; repaired: {'; '.join(d.repairs[v.record.hash][1])}" if v.record.hash in d.repairs
                         else "")), markup=False)
    if len(d.versions) > 30:
        console.print(f"  ... {len(d.versions) - 30} more versions")


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"


def _ci_table(d: ReportData) -> Table:
    table = Table(title="95% CIs over the deciding evaluation's improver runs; usage per iteration")
    for col in ("t", "val", "val 95% CI", "test", "test 95% CI", "runs", "completions", "tokens", "model s"):
        table.add_column(col, justify="right")
    for r in d.iterations:
        table.add_row(str(r.record.iteration), f"{r.val_ci[0]:.3f}", f"[{r.val_ci[1]:.3f}, {r.val_ci[2]:.3f}]",
                      f"{r.test_ci[0]:.3f}", f"[{r.test_ci[1]:.3f}, {r.test_ci[2]:.3f}]", str(r.runs),
                      str(r.completions), str(r.prompt_tokens + r.completion_tokens), f"{r.model_seconds:.1f}")
    return table


def _sandbox_flag(summary: dict) -> None:
    from selftaught.analysis.sandbox_flag import RATE_LABELS, rate_from_dict

    console.print(f"sandbox-flag experiment: {summary.get('samples')} samples, {summary.get('improvers')} improvers"
                  + (" (with warning)" if summary.get("warning") else ""))
    for key, label in RATE_LABELS.items():
        if key in summary.get("rates", {}):
            console.print(f"  {label:<28} {rate_from_dict(summary['rates'][key]).describe()}")
