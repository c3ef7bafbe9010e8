"""Entry point: one handler turns every outcome into one line and an exit code; bugs keep their traceback.

Exit codes: 0 done; 1 a bug (traceback) or a failed ``doctor`` check; 2 a user error (nothing was created
for a run that could not start); 3 stopped at a cost cap; 4 stopped by a model-server fault; 130 / 143
interrupted by SIGINT / SIGTERM. Stopped and interrupted runs have everything finished so far committed,
their status and reason recorded, and continue with ``selftaught run --resume RUN_DIR``.
"""

from __future__ import annotations

import signal
import sys

import typer

from selftaught import signals
from selftaught.cli.terminal import clean  # messages may quote a program or a model
from selftaught.errors import BudgetExhausted, ModelError, UserError

EXIT_USER, EXIT_BUDGET, EXIT_MODEL = 2, 3, 4
RESUME_HINT = "everything finished so far is saved (resume with: selftaught run --resume RUN_DIR)"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="selftaught: recursively self-improving code generation (STOP), sandboxed.")


def _register() -> None:
    from selftaught.cli import doctor, estimate, evaluate, experiment, report, run, show, tasks, transfer

    for module in (run, evaluate, estimate, show, report, transfer, doctor, experiment):
        module.register(app)
    app.add_typer(tasks.app, name="tasks")


def _interrupted() -> int:
    """Exit code of an interrupt (typer turns one into a plain exit code 130, so ask ``signals``)."""
    signum = signals.received() or signal.SIGINT
    print(f"interrupted ({signal.Signals(signum).name}); {RESUME_HINT}", file=sys.stderr)
    return 128 + signum


def main(argv: list[str] | None = None) -> int:
    _register()
    signals.install()
    try:
        code = _dispatch(argv)
    except KeyboardInterrupt:  # raised after typer's handler, e.g. while the run unwinds
        return _interrupted()
    return _interrupted() if signals.received() or code == 130 else code


def _dispatch(argv: list[str] | None) -> int:
    """Run the command; every outcome becomes an exit code (bugs keep their traceback)."""
    try:
        # Not standalone: exit codes (typer.Exit, an interrupt) come back as the return value.
        code = app(args=argv, standalone_mode=False)
    except UserError as exc:
        print(f"error: {clean(exc)}", file=sys.stderr)
        return EXIT_USER
    except BudgetExhausted as exc:  # a clean, resumable stop: the message says how to go on
        print(f"stopped: {clean(exc)}", file=sys.stderr)
        return EXIT_BUDGET
    except ModelError as exc:  # the server failed past its retries: recorded, resumable
        print(f"stopped: {clean(exc)}", file=sys.stderr)
        return EXIT_MODEL
    except typer.Abort:
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # a bad flag, argument or command: one line, like every user error
        message = " ".join(exc.format_message().split())
        if message:  # none: the help was shown for a bare command group
            print(f"error: {clean(message)} (see --help)", file=sys.stderr)
        return EXIT_USER
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
