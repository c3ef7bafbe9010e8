"""Terminal rendering: progress lines while a run goes, and the final table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from selftaught.analysis.paired import Comparison, MatchedCost, comparisons, final_matched_cost, format_p
from selftaught.cli.terminal import SafeConsole, clean, untrusted
from selftaught.config import RunConfig
from selftaught.engine.fit import role_fit_warnings
from selftaught.engine.runner import RunResult, estimate_run, load_tasks
from selftaught.improvers import improver_source
from selftaught.report.data import cut_replies, describe_cut_replies
from selftaught.store import IterationRecord, RunStore
from selftaught.values import Usage

console = SafeConsole(highlight=False, emoji=False)  # no control sequence reaches the terminal
if not console.is_terminal:  # logs and CI: do not squeeze tables into 80 columns
    console.width = max(console.width, 110)


class ConsoleReporter:
    """Prints one line per meaningful event: iteration, improver runs, model calls used, best so far."""

    def __init__(self, live_report: bool = False) -> None:
        self.best = float("-inf")
        self.iteration = 0
        self.live_report = live_report

    def event(self, name: str, **f: Any) -> None:
        if name == "estimate":
            for line in f["lines"]:
                console.print(line)
            spent = f["spent"]
            if spent.calls:
                console.print(f"  already spent by this run: {spent.calls:,} model calls, {spent.tokens:,} tokens, "
                              f"${spent.usd:.4f}")
        elif name == "warning":
            console.print(f"[yellow]warning:[/] {untrusted(f['message'])}")
        elif name == "run_start":
            seeds = ", ".join(f"{t} val {v:.3f} / test {s:.3f}" for t, (v, s) in f["seed_solution"].items())
            console.print(f"[bold]run[/] {f['run_dir']}  (sandbox tier: {f['tier']})")
            console.print(f"  seed solution u(s): {seeds}")
            if self.live_report:
                console.print(f"  live report: {f['run_dir']}/report.html (rewritten as the run goes; open it in a "
                              "browser, it reloads itself)", soft_wrap=True)
        elif name == "iteration_start":
            self.iteration = f["iteration"]
            what = "scoring the starting improver" if f["iteration"] == 0 else "self-improvement step"
            console.print(f"[bold]iteration {f['iteration']}[/]: {what}  (model calls so far {f['model_calls']})")
        elif name == "improver_run":
            console.print(f"  iteration {self.iteration} · {f['scope'].split('/')[0]} run {f['run']} on {f['task']}:"
                          f" {untrusted(f['verdict'])}, val {f['val']:.3f} · model calls {f['model_calls']}")
        elif name == "meta_evaluation":
            self.best = max(self.best, f["val"])
            console.print(f"  meta-utility of {f['improver'][:8]} ({f['scope'].split('/')[0]}): val {f['val']:.3f}"
                          f" test {f['test']:.3f} · best val so far {self.best:.3f}")
        elif name == "iteration_end":
            rec: IterationRecord = f["record"]
            console.print(f"  iteration {rec.iteration} done: {rec.verdict}"
                          + (f" ({untrusted(rec.error)})" if rec.error else "") + f" · val {rec.val:.3f} test {rec.test:.3f}")


def iteration_table(iterations: list[IterationRecord], seed_solution: dict[str, tuple[float, float]]) -> Table:
    table = Table(title="Meta-utility per iteration (val: seen by improvers; test: held out)")
    for col in ("t", "improver", "adopted", "val", "test", "cand. val", "calls", "secs", "outcome"):
        table.add_column(col, justify="left" if col in ("improver", "outcome") else "right")
    for task, (val, test) in seed_solution.items():
        table.add_row("u(s)", f"seed solution of {task}", "", f"{val:.3f}", f"{test:.3f}", "", "", "", "")
    for r in iterations:
        table.add_row(str(r.iteration), r.improver_hash[:10], "yes" if r.adopted else "no", f"{r.val:.3f}",
                      f"{r.test:.3f}", "" if r.candidate_val is None else f"{r.candidate_val:.3f}",
                      str(r.model_calls), f"{r.seconds:.0f}", r.verdict)
    return table


def iteration_notes(iterations: list[IterationRecord]) -> list[str]:
    """One line per iteration that failed, its error (program text: quoted in it) cleaned."""
    return [clean(f"t={r.iteration} {r.verdict}: {r.error}") for r in iterations if r.error]


def paired_table(comps: list[Comparison]) -> Table:
    """Per step, the candidate minus its parent on shared model draws; last, I_T minus I_0."""
    table = Table(title="Paired differences on the same model draws (B - A; 95% bootstrap CI; paired permutation "
                  "test)")
    for col in ("t", "compared", "draws", "n", "val diff", "test diff [95% CI]", "wins/losses/ties", "p"):
        table.add_column(col, justify="left" if col in ("compared", "draws") else "right")
    for c in comps:
        d = c.test
        table.add_row(str(c.iteration), c.subject, c.draws, str(d.n), f"{c.val.mean:+.3f}",
                      f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]", f"{d.wins}/{d.losses}/{d.ties}", format_p(d.p))
    return table


def print_paired(comps: list[Comparison], its: list[IterationRecord], matched: MatchedCost | None = None) -> None:
    """The paired table, then the run's bottom line: did self-improvement change the improver, and by
    how much on held-out test instances over fresh paired runs, and at matched model cost."""
    if comps:
        console.print(paired_table(comps))
        console.print("  B - A run by run, run j of both on the same model draws; confirmation: fresh draws after "
                      "screening picked the candidate; final: fresh draws at the end of the run", style="dim")
    final = [c for c in comps if c.draws == "final"]
    if final:
        c = final[0]
        console.print(f"[bold]self-improvement[/]: {c.subject} on {c.test.n} fresh paired runs, held-out test "
                      f"{c.test.describe()}")
        if matched is not None:
            console.print(f"  {matched.describe()}")
    elif len(its) > 1 and its[0].improver_hash == its[-1].improver_hash:
        console.print("self-improvement: no candidate improver was adopted (I_T = I_0)")


def print_usage_by_model(usage: dict[tuple[str, str], Usage]) -> None:
    """Model spend per model name and role, over every session of the run."""
    console.print("model usage of the whole run (every session) by model and role:" if usage
                  else "model usage: no completions sent")
    for (model, role), u in sorted(usage.items()):
        console.print(f"  {model} as {role}: {u.calls:,} calls sent, {u.prompt_tokens:,} prompt + "
                      f"{u.completion_tokens:,} completion tokens, ${u.usd:.4f}")


def print_estimate(config: RunConfig) -> None:
    for line in estimate_run(config).lines():
        console.print(line)
    tasks = load_tasks(config.task)
    for warning in role_fit_warnings(config.model, improver_source(config.improver)[0], tasks):
        console.print(f"[yellow]warning:[/] {untrusted(warning)}")


def print_result(result: RunResult) -> None:
    console.print(iteration_table(result.iterations, result.seed_solution))
    for note in iteration_notes(result.iterations):
        console.print(f"  {note[:200]}", markup=False)  # errors quote programs: "[/INST]" is not markup
    store = RunStore(result.run_dir)
    try:
        print_paired(comparisons(store), store.iterations(), final_matched_cost(store))
        cut = describe_cut_replies(cut_replies(store.completions()))
    finally:
        store.close()
    console.print(f"model completions: {result.model_calls_sent} sent, {result.model_calls_replayed} replayed "
                  "from the run's cache by this session")
    print_usage_by_model(result.usage_by_model)  # every session of the run
    if cut:
        console.print(f"[yellow]{untrusted(cut)}[/]")
    console.print(f"run directory: [bold]{result.run_dir}[/]  (improvers in {result.run_dir}/improvers/)")
