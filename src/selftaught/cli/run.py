"""``selftaught run``: start a self-improvement run, or resume one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from selftaught.cli.render import ConsoleReporter, print_result
from selftaught.cli.report import print_analysis
from selftaught.config import load_config
from selftaught.engine.runner import resume_run, start_run

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config file")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override a config key: section.key=value")]


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: ConfigOpt = None,
        task: Annotated[Optional[str], typer.Option(help="task name or task file (comma-separated: mixture)")] = None,
        improver: Annotated[Optional[str], typer.Option(help="'seed', 'compact' or an improver .py file")] = None,
        iterations: Annotated[Optional[int], typer.Option(help="self-improvement iterations T")] = None,
        model: Annotated[Optional[str], typer.Option(help="model provider: embedded, openai, ...")] = None,
        base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint URL")] = None,
        model_name: Annotated[Optional[str], typer.Option(help="model name at the endpoint")] = None,
        seed: Annotated[Optional[int], typer.Option(help="run seed")] = None,
        set_: SetOpt = None,
        resume: Annotated[Optional[Path], typer.Option(help="resume the run in this directory")] = None,
        offline: Annotated[bool, typer.Option(help="with --resume: replay only, never call the model")] = False,
    ) -> None:
        """Self-improve an improver on a task: I_t = I_{t-1}(meta-utility, I_{t-1}, model)."""
        reporter = ConsoleReporter()
        if resume is not None:
            result = resume_run(resume, reporter=reporter, iterations=iterations, offline=offline)
        else:
            cfg = load_config(config, {"task": task, "improver": improver, "iterations": iterations,
                                       "seed": seed, "model.provider": model, "model.base_url": base_url,
                                       "model.name": model_name}, set_)
            result = start_run(cfg, reporter=reporter)
        print_result(result)
        print_analysis(result.run_dir)
