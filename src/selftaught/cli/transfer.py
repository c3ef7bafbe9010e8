"""``selftaught transfer RUN_DIR --tasks ...``: the paper's transfer table for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from selftaught.cli.render import console
from selftaught.cli.run import SetOpt
from selftaught.engine.transfer import SEED_SOLUTION, transfer
from selftaught.errors import ConfigError
from selftaught.store import TransferRecord


class TransferReporter:
    """One line per cell being computed and per improver run (the slow part)."""

    def event(self, name: str, **f: Any) -> None:
        if name == "transfer_subject":
            what = "seed solution" if f["subject"] == SEED_SOLUTION else f"improver {f['subject']}"
            console.print(f"[bold]{f['task']}[/]: {what}")
        elif name == "improver_run":
            console.print(f"  run {f['run']}: {f['verdict']}, val {f['val']:.3f} · model calls {f['model_calls']}")


def _cell(value: float, low: float, high: float) -> str:
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def transfer_table(records: list[TransferRecord]) -> Table:
    """Rows: task; columns: u(s), then û(I_t) per iteration. Test means with 95% CIs; n per cell."""
    subjects = list(dict.fromkeys([SEED_SOLUTION] + sorted(
        {r.subject for r in records if r.subject != SEED_SOLUTION}, key=lambda s: int(s[2:]))))
    table = Table(title="Transfer (held-out test; 95% CI; n = instances for u(s), improver runs for û)")
    table.add_column("task")
    for s in subjects:
        table.add_column(s if s == SEED_SOLUTION else f"û({s})", justify="right")
    by_task: dict[str, dict[str, TransferRecord]] = {}
    for r in records:
        by_task.setdefault(r.task, {})[r.subject] = r
    for task, cells in by_task.items():
        row = [task]
        for s in subjects:
            cell = cells.get(s)
            row.append("" if cell is None else f"{_cell(cell.test, cell.test_low, cell.test_high)} n={cell.n}")
        table.add_row(*row)
    return table


def _iterations(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"--iterations {text!r}: expected comma-separated integers, e.g. 0,2") from None


def register(app: typer.Typer) -> None:
    @app.command("transfer")
    def transfer_cmd(
        run_dir: Annotated[Path, typer.Argument(help="a run directory")],
        tasks: Annotated[str, typer.Option(help="comma-separated task names or task files")],
        iterations: Annotated[str | None, typer.Option(
            help="which improvers I_t, e.g. 0,2 (default: I_0 and the run's final improver)")] = None,
        runs: Annotated[int | None, typer.Option(
            min=1, help="improver runs per û (default: the run's budget.meta_utility_tests)")] = None,
        offline: Annotated[bool, typer.Option(help="replay recorded model replies only")] = False,
        set_: SetOpt = None,
    ) -> None:
        """Run the run's improvers, unchanged, on other tasks: u(s), û(I_0), û(I_T) with CIs."""
        result = transfer(run_dir, tasks, iterations=_iterations(iterations), runs=runs,
                          reporter=TransferReporter(), offline=offline, sets=set_)
        console.print(transfer_table(result.records))
        console.print(f"model completions: {result.model_calls_sent} sent, {result.model_calls_replayed} "
                      f"replayed from the run's cache; saved in {result.run_dir} (selftaught show)")
