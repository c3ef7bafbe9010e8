"""Build a model provider from its plug-in name and options, on the one strict path every plug-in takes
(``plugins.build``): a misspelt option is reported with the accepted ones (and a close match) instead of
surfacing as a ``TypeError`` or being ignored.
"""

from __future__ import annotations

from typing import Any

from selftaught import plugins
from selftaught.models.base import ModelProvider


def make_provider(name: str, **options: Any) -> ModelProvider:
    """The provider registered as ``name``, constructed with ``options`` (keyword arguments only)."""
    provider = plugins.build("model", name, options)
    if not isinstance(provider, ModelProvider):
        raise TypeError(f"the model plug-in '{name}' built a {type(provider).__name__}, not a ModelProvider")
    return provider
