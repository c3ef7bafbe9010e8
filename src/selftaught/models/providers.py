"""Build a model provider from its plug-in name and the options in the config's ``[model]`` table.

Options are checked against the provider's constructor before it runs, so a misspelt key is reported
with the accepted ones (and a close match) instead of surfacing as a ``TypeError`` or being ignored.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from selftaught import plugins
from selftaught.errors import ConfigError
from selftaught.models.base import ModelProvider


def accepted_options(cls: type) -> tuple[list[str], list[str], bool]:
    """(all option names, required option names, accepts any keyword) of a provider's constructor."""
    params = list(inspect.signature(cls).parameters.values())
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [p.name for p in named if p.default is p.empty]
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
    return [p.name for p in named], required, any_keyword


def make_provider(name: str, **options: Any) -> ModelProvider:
    """The provider registered as ``name``, constructed with ``options`` (keyword arguments only)."""
    cls = plugins.load("model", name)
    names, required, any_keyword = accepted_options(cls)
    accepted = ", ".join(names) or "none"
    unknown = sorted(set(options) - set(names))
    if unknown and not any_keyword:
        hints = [f"'{u}' (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(u, names, n=1))
                 else f"'{u}'" for u in unknown]
        raise ConfigError(f"unknown option {', '.join(hints)} for model '{name}': accepted options are "
                          f"{accepted}")
    missing = [r for r in required if r not in options]
    if missing:
        raise ConfigError(f"model '{name}' needs the option {', '.join(repr(m) for m in missing)} "
                          f"(accepted options are {accepted})")
    provider = cls(**options)
    if not isinstance(provider, ModelProvider):
        raise TypeError(f"the model plug-in '{name}' built a {type(provider).__name__}, not a ModelProvider")
    return provider
