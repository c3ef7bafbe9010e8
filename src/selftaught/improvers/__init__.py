"""Seed improvers shipped with selftaught, as plain improver source files (they run sandboxed too)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from selftaught.errors import ConfigError

BUILTIN = {"seed": "seed.py", "compact": "compact.py", "small": "small.py", "seed_sandbox_flag": "seed_sandbox_flag.py"}


def improver_source(spec: str) -> tuple[str, str]:
    """(source, origin) for a built-in name (``BUILTIN``) or a path to an improver file."""
    if spec in BUILTIN:
        return files(__package__).joinpath(BUILTIN[spec]).read_text(), spec
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"improver '{spec}' is neither a built-in ({', '.join(BUILTIN)}) nor a file; "
                          "pass one of those or an existing .py path")
    source = path.read_text()
    if "def improve_algorithm" not in source:
        raise ConfigError(f"{path} defines no improve_algorithm(initial_solution, utility, language_model)")
    return source, "file"
