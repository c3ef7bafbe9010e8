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
    return check_improver(path, path.read_bytes()), "file"


def check_improver(path: Path, data: bytes) -> str:
    """The source of an improver file, refused up front (like an empty one) if it is not UTF-8 Python
    that compiles and defines ``improve_algorithm``: every run of a broken improver would score 0."""
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); pass a Python source file") from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        where = f" (line {exc.lineno}: {exc.msg})" if isinstance(exc, SyntaxError) else f" ({exc})"
        raise ConfigError(f"{path} is not valid Python{where}; fix the improver file") from None
    except (RecursionError, MemoryError) as exc:  # a 50,000-term expression overflows the compiler
        raise ConfigError(f"{path} is nested too deeply for Python to compile ({type(exc).__name__}); "
                          "simplify the improver file") from None
    if "def improve_algorithm" not in source:
        raise ConfigError(f"{path} defines no improve_algorithm(initial_solution, utility, language_model)")
    return source
