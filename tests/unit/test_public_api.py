"""The public API is exactly ``selftaught.__all__``; the CLI and users depend on it staying importable."""

from __future__ import annotations

import subprocess
import sys

import selftaught

EXPECTED = {"InvalidAnswer", "RunConfig", "RunResult", "RunStore", "SelftaughtError", "Task", "UserError",
            "evaluate", "extract_code", "load_config", "open_run", "resume", "run", "transfer", "TransferResult"}


def test_all_names_the_public_api_and_each_name_exists():
    assert EXPECTED <= set(selftaught.__all__)
    for name in selftaught.__all__:
        assert getattr(selftaught, name) is not None, name


def test_core_import_stays_light():
    """``import selftaught`` must not pull in heavy or optional dependencies."""
    code = ("import sys, selftaught; heavy = [m for m in ('llama_cpp', 'matplotlib', 'ray', 'openai', 'typer', 'rich')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", out
