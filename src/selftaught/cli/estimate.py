"""``selftaught estimate``: the most model calls a configuration's budgets and cost caps allow."""

from __future__ import annotations

from typing import Annotated

import typer

from selftaught.cli.render import print_estimate
from selftaught.cli.run import ConfigOpt, SetOpt
from selftaught.config import load_config


def register(app: typer.Typer) -> None:
    @app.command()
    def estimate(
        config: ConfigOpt = None,
        task: Annotated[str | None, typer.Option(help="task name or task file (comma-separated: mixture)")] = None,
        improver: Annotated[str | None, typer.Option(help="'seed', 'compact' or an improver .py file")] = None,
        iterations: Annotated[int | None, typer.Option(help="self-improvement iterations T")] = None,
        model_name: Annotated[str | None, typer.Option(help="model name (prices the USD cap)")] = None,
        set_: SetOpt = None,
    ) -> None:
        """Print the maximum number of model calls a run with this configuration can make (runs nothing)."""
        print_estimate(load_config(config, {"task": task, "improver": improver, "iterations": iterations,
                                            "model.name": model_name}, set_))
