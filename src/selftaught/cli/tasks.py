"""``selftaught tasks``: list, validate and baseline tasks."""

from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from selftaught import plugins
from selftaught.cli.render import console
from selftaught.engine.utility import SolutionScorer
from selftaught.errors import TaskError
from selftaught.store import RunStore
from selftaught.tasks.registry import load_task, validate_task_static

app = typer.Typer(no_args_is_help=True, help="List, validate and baseline tasks.")


@app.command("list")
def list_tasks() -> None:
    """Every registered task with its instance counts and time limit."""
    table = Table("task", "val / test", "time limit (CPU s)", "description")
    for name in plugins.names("task"):
        t = load_task(name)
        table.add_row(name, f"{t.n_val} / {t.n_test}", f"{t.time_limit:g}", t.description.strip().splitlines()[0][:70])
    console.print(table)


def _ci95(scores: list[float]) -> tuple[float, float]:
    """Mean and half-width of a normal-approximation 95% CI over instances."""
    mean = statistics.fmean(scores)
    half = 1.96 * statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0
    return mean, half


@app.command()
def baseline(
    tasks: Annotated[Optional[str], typer.Option(help="comma-separated tasks (default: all)")] = None,
    seed: Annotated[int, typer.Option(help="run seed")] = 0,
) -> None:
    """u(s) of each task's seed solution on val and test: mean and 95% CI over instances."""
    from selftaught.sandbox.local import LocalExecutor

    names = [n.strip() for n in tasks.split(",")] if tasks else plugins.names("task")
    table = Table("task", "val", "test", "verdicts")
    with tempfile.TemporaryDirectory() as tmp:
        scorer = SolutionScorer(LocalExecutor(), RunStore(Path(tmp), create=True), seed)
        for name in names:
            task = load_task(name)
            row = [name]
            verdicts: dict[str, int] = {}
            for split in ("val", "test"):
                ev = scorer.evaluate(task, task.seed_solution, split)  # type: ignore[arg-type]
                mean, half = _ci95([i["score"] for i in ev.instances])
                row.append(f"{mean:.3f} ± {half:.3f}")
                for i in ev.instances:
                    verdicts[i["verdict"]] = verdicts.get(i["verdict"], 0) + 1
            row.append(", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
            table.add_row(*row)
            console.print(f"  {name} done")
    console.print(table)


@app.command()
def validate(path: Annotated[str, typer.Argument(help="task file or task name")]) -> None:
    """Report every problem of a task in one pass, including whether its seed solution runs."""
    from selftaught.sandbox.local import LocalExecutor

    task = load_task(path)
    problems = validate_task_static(task)
    if not problems:
        with tempfile.TemporaryDirectory() as tmp:
            scorer = SolutionScorer(LocalExecutor(), RunStore(Path(tmp), create=True), 0)
            ev = scorer.evaluate(task, task.seed_solution, "val")
            if ev.verdict != "ok":
                problems.append(f"the seed solution fails in the sandbox: {ev.verdict}: {ev.error}")
            else:
                console.print(f"seed solution scores {ev.score:.3f} on validation")
    if problems:
        raise TaskError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))
    console.print(f"[green]ok[/] {task.name}: valid")
