"""Entry-point plug-ins: tasks, model providers, executors. Built-ins are registered the same way
(see ``pyproject.toml``), so a user's package extends selftaught without touching it."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from selftaught.errors import ConfigError, MissingExtra, PluginNotFound

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


def arguments(kind: str, name: str, options: Mapping[str, Any], *, section: str | None = None,
              shared: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """The plug-in ``name`` and the keyword arguments to construct it with: ``options`` (those the user
    set, in ``[section]``), checked against its constructor. An option it does not take is a one-line
    ``ConfigError`` naming the plug-in, the option and the ones it takes (never dropped silently, never a
    ``TypeError``). ``shared``: values nobody asked this plug-in to take (the engine's own, like the model
    name every request carries, and the section's defaults), given only if its constructor names them."""
    cls = load(kind, name)
    params = list(inspect.signature(cls).parameters.values())
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
    where = f"{section}: " if section else ""
    accepted = ", ".join(named) or "none"
    unknown = sorted(set(options) - set(named))
    if unknown and not any_keyword:
        hints = [f"'{u}' (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(u, named, n=1))
                 else f"'{u}'" for u in unknown]
        raise ConfigError(f"{where}unknown option {', '.join(hints)} for {kind} '{name}': accepted options "
                          f"are {accepted}")
    given = {**{k: v for k, v in (shared or {}).items() if any_keyword or k in named}, **options}
    missing = [p.name for p in params if p.name in named and p.default is p.empty and p.name not in given]
    if missing:
        raise ConfigError(f"{where}{kind} '{name}' needs the option {', '.join(repr(m) for m in missing)} "
                          f"(accepted options are {accepted})")
    return cls, given


def build(kind: str, name: str, options: Mapping[str, Any], *, section: str | None = None,
          shared: Mapping[str, Any] | None = None) -> Any:
    """The plug-in ``name`` constructed on the one strict path (see ``arguments``)."""
    cls, given = arguments(kind, name, options, section=section, shared=shared)
    return cls(**given)
