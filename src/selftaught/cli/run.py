"""``selftaught run``: start a self-improvement run, or resume one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from selftaught.cli.render import ConsoleReporter, console, print_estimate, print_result
from selftaught.cli.report import print_analysis
from selftaught.config import load_config
from selftaught.engine.runner import resume_estimate, resume_run, start_run

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a config key: section.key=value")]


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: ConfigOpt = None,
        task: Annotated[str | None, typer.Option(help="task name or task file (comma-separated: mixture)")] = None,
        improver: Annotated[str | None, typer.Option(help="'seed', 'compact' or an improver .py file")] = None,
        iterations: Annotated[int | None, typer.Option(help="self-improvement iterations T")] = None,
        model: Annotated[str | None, typer.Option(help="model provider: embedded, openai, ...")] = None,
        base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL")] = None,
        model_name: Annotated[str | None, typer.Option(help="model name at the endpoint")] = None,
        seed: Annotated[int | None, typer.Option(help="run seed")] = None,
        set_: SetOpt = None,
        resume: Annotated[Path | None, typer.Option(help="resume the run in this directory (--set may "
                                                       "raise cost caps or change the executor)")] = None,
        offline: Annotated[bool, typer.Option(help="with --resume: replay only, never call the model")] = False,
        upgrade: Annotated[bool, typer.Option(help="with --resume: continue a run an older version made, under "
                                              "this version's rules (its store is migrated: the older version "
                                              "can no longer open it)")] = False,
        executor: Annotated[str | None, typer.Option(help="sandbox executor: local, ray")] = None,
        ray_address: Annotated[str | None, typer.Option(help="with --executor ray: cluster address")] = None,
        dry_run: Annotated[bool, typer.Option(help="print the model-call estimate and exit (with --resume: of "
                                                "the rest of the run)")] = False,
        live_report: Annotated[bool, typer.Option(help="keep RUN_DIR/report.html current while the run goes "
                                                  "(it reloads itself in the browser)")] = True,
    ) -> None:
        """Self-improve an improver on a task: I_t = I_{t-1}(meta-utility, I_{t-1}, model)."""
        from selftaught.report.live import LiveReport

        reporter = LiveReport(ConsoleReporter(live_report=True)) if live_report else ConsoleReporter()
        transport = {"sandbox.executor": executor, "sandbox.ray_address": ray_address}
        try:
            if resume is not None:
                sets = [*(set_ or []), *(f"{k}={v!r}" for k, v in transport.items() if v is not None)]
                if dry_run:
                    for line in resume_estimate(resume, iterations=iterations, sets=sets):
                        console.print(line)
                    return
                result = resume_run(resume, reporter=reporter, iterations=iterations, offline=offline, sets=sets,
                                    upgrade=upgrade)
            else:
                cfg = load_config(config, {"task": task, "improver": improver, "iterations": iterations,
                                           "seed": seed, "model.provider": model, "model.base_url": base_url,
                                           "model.name": model_name, **transport}, set_)
                if dry_run:
                    print_estimate(cfg)
                    return
                result = start_run(cfg, reporter=reporter)
            print_result(result)
            print_analysis(result.run_dir)
        finally:
            if isinstance(reporter, LiveReport):
                reporter.close()  # the final page: as the store stands now (finished, or where it stopped)
                if reporter.error:
                    console.print(f"live report not written: {escape(reporter.error)}", soft_wrap=True)
