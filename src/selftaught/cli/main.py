"""Entry point. User errors become one line on stderr (exit 2); Ctrl-C exits 130 with everything
recorded so far committed (the store writes through); a run stopped by a cost cap prints one line and
exits 3 (committed too, resumable with a raised cap); bugs keep their traceback."""

from __future__ import annotations

import sys

import click
import typer

from selftaught.errors import BudgetExhausted, UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="selftaught: recursively self-improving code generation (STOP), sandboxed.")


def _register() -> None:
    from selftaught.cli import doctor, estimate, evaluate, experiment, report, run, show, tasks, transfer

    for module in (run, evaluate, estimate, show, report, transfer, doctor, experiment):
        module.register(app)
    app.add_typer(tasks.app, name="tasks")


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BudgetExhausted as exc:  # a clean, resumable stop: the message says how to go on
        print(f"stopped: {exc}", file=sys.stderr)
        return 3
    except click.exceptions.Abort:
        print("interrupted; everything finished so far is saved (resume with: selftaught run --resume RUN_DIR)",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; everything finished so far is saved (resume with: selftaught run --resume RUN_DIR)",
              file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
