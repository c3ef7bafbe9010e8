"""``selftaught analyze`` and ``selftaught report``: findings recorded in the store, then one HTML file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from selftaught.cli.archive import checked, readable, writable
from selftaught.cli.render import console
from selftaught.errors import OutputError, StoreFault


def print_analysis(run_dir: Path) -> None:
    """Record a finished run's findings and print one line about them (``selftaught run`` ends with it)."""
    from selftaught.analysis import analyse_run

    try:
        found = analyse_run(run_dir)
    except sqlite3.OperationalError as exc:  # the findings table writes on its own connection
        raise StoreFault(f"the run finished, but its analysis could not be recorded in {run_dir} ({exc}); free "
                         f"some space, then: selftaught analyze {run_dir}", str(exc)) from None
    serious = [f for f in found["audit"] + found["reward_hacking"] if f.severity in ("high", "medium")]
    labels = sorted({f.rule for f in found["strategies"] if f.evidence.get("model_written")})
    console.print(f"analysis: {len(found['audit'])} audit and {len(found['reward_hacking'])} reward-hacking "
                  f"finding(s) ({len(serious)} high/medium); model-written strategies: {', '.join(labels) or 'none'}"
                  f"  (details: selftaught show {run_dir}; HTML: selftaught report {run_dir})", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(
        run_dirs: Annotated[list[Path], typer.Argument(help="one or more run directories")],
        judge: Annotated[bool, typer.Option(help="also ask the run's model to label strategies")] = False,
    ) -> None:
        """Audit every model-written program, run the reward-hacking detectors and label strategies."""
        from selftaught.analysis import analyse_run
        from selftaught.analysis.strategies import LABELS, counts_across_runs

        per_run = {}
        for run_dir in map(checked, run_dirs):
            with readable(run_dir) as source, _judge(source) if judge else _nothing() as model:
                found = analyse_run(source, model)
            per_run[str(run_dir)] = found["strategies"]
            console.print(f"{run_dir}: audit {len(found['audit'])} finding(s), reward hacking "
                          f"{len(found['reward_hacking'])}, strategy labels {len(found['strategies'])}")
        table = counts_across_runs(per_run, model_written_only=False)
        labels = [label for label in LABELS if any(c.get(label) for c in table.values())]
        console.print("strategy labels (improver versions): " + "; ".join(
            f"{label} {table['total'][label]}" for label in labels))

    @app.command()
    def report(
        run_dir: Annotated[Path, typer.Argument(help="a run directory")],
        out: Annotated[Path | None, typer.Option(help="output file (default RUN_DIR/report.html; for a run "
                                                 "that cannot be written, ./RUN-report.html)")] = None,
        analyze: Annotated[bool, typer.Option(help="run the analyses first (their findings go in the report)")]
        = True,
        watch: Annotated[bool, typer.Option(help="keep the report current while the run goes (it reloads "
                                            "itself in the browser) until the run ends")] = False,
        interval: Annotated[float, typer.Option(min=0.1, help="with --watch: seconds between checks")] = 2.0,
        port: Annotated[int | None, typer.Option(help="with --watch: also serve it on http://127.0.0.1:PORT "
                                                    "(0: any free port)")] = None,
    ) -> None:
        """Write one self-contained HTML report of a run (plots, lineage with diffs, findings)."""
        from selftaught.report import write_report

        if out is not None and not Path(out).parent.is_dir():  # before any work: one line, nothing made
            raise OutputError(f"--out {out}: the directory {Path(out).parent} does not exist; create it or pass "
                              "another path")
        if watch and writable(checked(run_dir)):  # a live run is being written: it is writable
            path = _watch(run_dir, out, interval, port)
        else:  # nothing can be writing a run where nothing can write: its report is final already
            if watch:
                console.print(f"{run_dir} cannot be written, so no run is going on there: writing its report once")
            if out is None and not writable(checked(run_dir)):
                out = Path(f"{run_dir.resolve().name}-report.html")
            with readable(run_dir) as source:
                if analyze:
                    from selftaught.analysis import analyse_run

                    analyse_run(source)
                path = write_report(source, out)
        console.print(f"report: [bold]{path}[/] ({path.stat().st_size // 1024} KiB)")


def _watch(run_dir: Path, out: Path | None, interval: float, port: int | None) -> Path:
    """Rewrite the live report as the run (started elsewhere) goes; analyse it once it has ended."""
    from selftaught.report.live import LINGER_SECONDS, serve, watch, write_live

    page = Path(out) if out else run_dir / "report.html"
    console.print(f"watching {run_dir}: {page} is rewritten as the run goes (Ctrl-C stops watching)")
    if port is not None:
        server, url = serve(page, port)
        console.print(f"serving it at {url}", soft_wrap=True)
    watch(run_dir, out, interval, on_write=lambda path, status: console.print(
        f"  {time.strftime('%H:%M:%S')} rewrote {path.name} (run {status})"))
    from selftaught.analysis import analyse_run

    analyse_run(run_dir)  # the run has ended: its findings go in the final page
    path = write_live(run_dir, out)
    if port is not None:  # a tab reloading every few seconds must still find the final page
        console.print(f"the run has ended; serving the final page {LINGER_SECONDS:g} s more (Ctrl-C stops it)")
        time.sleep(LINGER_SECONDS)
        server.shutdown()
    return path


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@contextmanager
def _judge(run_dir: Path) -> Iterator[object]:
    """The run's own model as a strategy judge, its replies recorded in (and replayed from) the run."""
    from selftaught.engine.session import RunModels, RunSession, stored_config
    from selftaught.models.base import ChatRequest
    from selftaught.store import RunStore

    store = RunStore(run_dir)
    try:
        config = stored_config(store)
        # not the run's spend (no caps counted); [model] only: the judge has no role of its own
        with RunSession(store, config, RunModels.build(config, roles=False), metered=False) as session:
            recorder = session.recorder

            class Judge:
                def complete(self, request: Any) -> str:
                    req = ChatRequest(model=config.model.name, system=request.system, user=request.user,
                                      temperature=0.0, max_tokens=request.max_tokens)
                    return recorder.complete_batch("judge", [req], role="judge")[0].text

            yield Judge()
    finally:
        store.close()
