"""``selftaught show RUN_DIR``: the essentials of a run, read from its store (nothing is re-run)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from selftaught.cli.render import console, iteration_notes, iteration_table, print_usage
from selftaught.cli.transfer import transfer_table
from selftaught.config import RunConfig
from selftaught.engine.meta_utility import per_task, screening_scope
from selftaught.models.cost import PriceTable, usage_by_role
from selftaught.store import RunStore


def mixture_lines(store: RunStore) -> list[str]:
    """For a task mixture: each iteration's meta-utility split by task (û itself is their mean)."""
    tasks = [t for t in str((store.get_meta("config") or {}).get("task", "")).split(",") if t.strip()]
    if len(tasks) < 2:
        return []
    lines = ["meta-utility per task (val / test):"]
    for it in store.iterations():
        rec = store.get_meta_evaluation(it.improver_hash, screening_scope(it.improver_hash))
        if rec is not None:
            cells = ", ".join(f"{t} {v:.3f} / {s:.3f}" for t, (v, s) in per_task(rec).items())
            lines.append(f"  t={it.iteration} {it.improver_hash[:10]}: {cells}")
    return lines


def register(app: typer.Typer) -> None:
    @app.command()
    def show(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
        """Print a run's iteration table, model usage and evaluation verdicts."""
        store = RunStore(run_dir)
        cfg = store.get_meta("config") or {}
        console.print(f"run {run_dir}: task {cfg.get('task')}, model {cfg.get('model', {}).get('provider')}"
                      f" / {cfg.get('model', {}).get('name')}, status {store.get_meta('status')}")
        seeds = {k: tuple(v) for k, v in (store.get_meta("seed_solution") or {}).items()}
        console.print(iteration_table(store.iterations(), seeds))
        for note in iteration_notes(store.iterations()):
            console.print(f"  {note[:200]}")
        for line in mixture_lines(store):
            console.print(line)
        completions = store.completions()
        counts = store.model_event_counts()
        console.print(f"model completions: {len(completions)} recorded, "
                      f"{sum(c.prompt_tokens for c in completions)} prompt + "
                      f"{sum(c.completion_tokens for c in completions)} completion tokens; "
                      f"requests: {counts['misses']} sent, {counts['hits']} replayed")
        print_usage(usage_by_role(completions, PriceTable(RunConfig.model_validate(cfg).cost.prices)))
        verdicts = Counter(i["verdict"] for ev in store.evaluations() for i in ev.instances)
        console.print("instance verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
        tiers = Counter(ev.tier for ev in store.evaluations())
        console.print("sandbox tiers: " + ", ".join(f"{k} {v}" for k, v in tiers.items()))
        transfers = store.transfers()
        if transfers:
            console.print(transfer_table(transfers))
