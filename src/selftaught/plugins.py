"""Entry-point plug-ins: tasks, model providers, executors. Built-ins are registered the same way
(see ``pyproject.toml``), so a user's package extends selftaught without touching it."""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import Any

from selftaught.errors import MissingExtra, PluginNotFound

GROUPS = {
    "task": "selftaught.tasks",
    "model": "selftaught.models",
    "executor": "selftaught.executors",
}
#: Which extra installs the dependencies of a built-in plug-in (for a helpful ImportError message).
EXTRAS = {("model", "embedded"): "embedded"}


def names(kind: str) -> list[str]:
    """The registered names of one kind, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])})


def load(kind: str, name: str) -> Any:
    """The object registered as ``name`` (imported lazily); unknown names list the known ones."""
    eps = {ep.name: ep for ep in entry_points(group=GROUPS[kind])}
    if name not in eps:
        known = sorted(eps)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise PluginNotFound(f"unknown {kind} '{name}': {hint}known {kind}s are {', '.join(known) or 'none'}")
    try:
        return eps[name].load()
    except ImportError as exc:
        extra = EXTRAS.get((kind, name))
        if extra:
            raise MissingExtra(f"the {kind} '{name}'", extra) from exc
        raise
