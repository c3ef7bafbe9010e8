"""``selftaught evaluate``: the meta-utility of one improver, without self-improving it."""

from __future__ import annotations

from typing import Annotated

import typer

from selftaught.cli.render import ConsoleReporter, console, print_result
from selftaught.cli.run import ConfigOpt, SetOpt
from selftaught.cli.terminal import untrusted
from selftaught.config import load_config
from selftaught.engine.runner import evaluate_improver


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        improver: Annotated[str, typer.Option(help="'seed', 'compact' or an improver .py file")],
        task: Annotated[str | None, typer.Option(help="task name or task file")] = None,
        config: ConfigOpt = None,
        model: Annotated[str | None, typer.Option(help="model provider")] = None,
        base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL")] = None,
        model_name: Annotated[str | None, typer.Option(help="model name at the endpoint")] = None,
        set_: SetOpt = None,
    ) -> None:
        """Score an improver's meta-utility (val and held-out test) on a task."""
        cfg = load_config(config, {"task": task, "improver": improver, "model.provider": model,
                                   "model.base_url": base_url, "model.name": model_name}, set_)
        result, rec = evaluate_improver(cfg, reporter=ConsoleReporter())
        print_result(result)
        for r in rec.runs:
            console.print(f"  run {r.run} on {r.task}: {r.verdict} val {r.val:.3f} test {r.test:.3f}"
                          + (f" ({untrusted(r.error, 80)})" if r.error else ""))
