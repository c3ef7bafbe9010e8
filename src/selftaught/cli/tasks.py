"""``selftaught tasks``: list, validate and baseline tasks (thin: the work is in ``engine.baseline``)."""

from __future__ import annotations

import textwrap
import time
from typing import Annotated

import typer
from rich.table import Table

from selftaught import plugins
from selftaught.cli.render import console
from selftaught.cli.terminal import untrusted
from selftaught.engine.baseline import seed_baseline, seed_problems
from selftaught.engine.runner import load_tasks
from selftaught.errors import TaskError
from selftaught.tasks.registry import load_task, validate_task_static

app = typer.Typer(no_args_is_help=True, help="List, validate and baseline tasks.")
_BLOCKING = ("seed_solution", "time_limit", "n_val", "generate(", "arguments(")


@app.command("list")
def list_tasks() -> None:
    """Every registered task (built-in or installed entry point) with its instance counts and limit."""
    table = Table("task", "val / test", "time limit (CPU s)", "description")
    for name in plugins.names("task"):
        t = load_task(name)
        table.add_row(name, f"{t.n_val} / {t.n_test}", f"{t.time_limit:g}",
                      textwrap.shorten(t.description.strip().splitlines()[0], 70, placeholder=" ..."))
    console.print(table)


@app.command()
def baseline(
    tasks: Annotated[str | None, typer.Option(help="comma-separated task names or files (default: all)")
                     ] = None,
    seed: Annotated[int, typer.Option(help="run seed (fixes the instances)")] = 0,
    repeats: Annotated[int, typer.Option(min=1, help="score each seed solution K times to measure how "
                                         "stable the scores are under the machine's load")] = 1,
) -> None:
    """u(s) of each task's seed solution on val and test: mean and 95% CI over instances."""
    from selftaught.sandbox.local import LocalExecutor

    started = time.monotonic()
    chosen = load_tasks(tasks) if tasks else [load_task(n) for n in plugins.names("task")]
    columns = ["task", "n val/test", "u(s) val", "u(s) test", "verdicts", "secs"]
    if repeats > 1:
        columns[5:5] = ["spread val / test", "unstable"]
    table = Table(*columns, title="Seed-solution utility u(s): mean [95% CI] over instances")
    executor = LocalExecutor()
    for task in chosen:
        b = seed_baseline(task, executor, seed=seed, repeats=repeats)
        row = [task.name, f"{b.val.n}/{b.test.n}", str(b.val), str(b.test),
               ", ".join(f"{k} {v}" for k, v in b.verdicts.items())]
        if repeats > 1:
            row += [f"{b.spread[0]:.3f} / {b.spread[1]:.3f}", f"{b.unstable_instances}"]
        table.add_row(*row, f"{b.seconds:.0f}")
        console.print(f"  {task.name} done ({b.seconds:.0f} s)")
    executor.close()
    console.print(table)
    console.print(f"seed {seed}, {repeats} repeat(s), wall time {time.monotonic() - started:.0f} s")


@app.command()
def validate(path: Annotated[str, typer.Argument(help="task file or task name")]) -> None:
    """Report every problem of a task in one pass, including whether its seed solution runs."""
    from selftaught.sandbox.local import LocalExecutor

    task = load_task(path)
    problems = validate_task_static(task)
    notes: list[str] = []
    # Running the seed needs a loadable seed, a valid limit and working generate/arguments; when one
    # of those is already reported, running it would only repeat the same problem in other words.
    blocked = any(p.startswith(_BLOCKING) or "is not overridden" in p for p in problems)
    if not blocked:
        executor = LocalExecutor()
        dynamic, notes = seed_problems(task, executor)
        executor.close()
        problems += dynamic
    for note in notes:
        console.print(f"  {untrusted(note)}")
    if problems:
        numbered = " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise TaskError(f"{path}: {len(problems)} problem(s): {numbered}")
    console.print(f"[green]ok[/] {task.name}: valid")
