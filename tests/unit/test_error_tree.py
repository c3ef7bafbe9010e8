"""Every exception selftaught raises on purpose comes from ``selftaught.errors``'s tree, so the CLI's one
handler turns it into one line. A builtin exception is raised only where listed here, with why: a
caller broke a documented precondition (a bug, which keeps its traceback), or the exception is caught
and translated nearby. ``guest/`` is exempt: it runs inside the sandbox on the standard library alone and
may not import the tree (the layers contract)."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import selftaught

PACKAGE = Path(selftaught.__file__).parent
#: Code that runs inside the sandbox: standard library only, no error tree.
EXEMPT = ("guest/", "improvers/")
BUG = "a caller broke the documented precondition: a bug, which keeps its traceback"
#: (module path under src/selftaught, builtin exception) -> why it is not from the error tree.
ALLOWED = {
    ("config.py", "ValueError"): "pydantic's validator protocol: load_config turns it into a ConfigError",
    ("engine/baseline.py", "ValueError"): BUG,
    ("models/embedded.py", "ValueError"): BUG,
    ("models/http_limits.py", "RuntimeError"): "an httpx whose transport we cannot bound: our bug to fix, "
                                               "never a user's (a traceback, not a silent unbounded client)",
    ("models/providers.py", "TypeError"): "a model plug-in that builds no ModelProvider is its author's bug",
    ("models/llama_session.py", "ValueError"): "the model does not load (embedded.py turns it into a ConfigError), "
                                               "or a seed count or prompt size the provider never passes (a bug)",
    ("analysis/findings_store.py", "ValueError"): BUG,
    ("analysis/paired.py", "ValueError"): BUG,
    ("tasks/base.py", "NotImplementedError"): "the Task API's abstract methods",
    ("tasks/sort_speed.py", "ValueError"): BUG,
    ("sandbox/local.py", "AssertionError"): "unreachable",
    ("sandbox/bwrap.py", "FileNotFoundError"): "no bubblewrap: the tier probe reads it as that tier unavailable",
    ("sandbox/channel.py", "TimeoutError"): "caught in the same class: a verdict, never raised further",
    ("sandbox/channel.py", "EOFError"): "caught in the same class: a verdict, never raised further",
}


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def builtin_raises() -> set[tuple[str, str]]:
    """(module path, exception name) of every ``raise Builtin`` / ``raise Builtin(...)`` in the package."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(EXEMPT):
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and _builtin_exception(exc.id):
                    found.add((rel, exc.id))
    return found


def test_builtin_exceptions_are_raised_only_where_justified():
    unexplained = sorted(builtin_raises() - set(ALLOWED))
    assert not unexplained, (f"raise an error from selftaught.errors instead (or justify it in ALLOWED): "
                             f"{unexplained}")


def test_every_justification_is_still_needed():
    assert not sorted(set(ALLOWED) - builtin_raises())
