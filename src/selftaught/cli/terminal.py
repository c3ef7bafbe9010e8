"""Program and model text in the CLI's rich output: cleaned of control sequences and escaped as markup.

``selftaught.safe_text.clean`` removes control sequences. The CLI's console cleans every string it
renders (``SafeConsole``), so a place that forgets still prints no control sequence; ``untrusted`` is for
program text inside a markup string, where ``[bold]`` or ``[link=...]`` would otherwise be interpreted.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from selftaught.safe_text import clean

__all__ = ["SafeConsole", "clean", "untrusted"]


def untrusted(text: object, limit: int | None = None) -> str:
    """Program or model text for a rich markup string: cleaned, cut to ``limit`` characters, escaped."""
    out = clean(text)
    return escape(out if limit is None else out[:limit])


class SafeConsole(Console):
    """A rich console that cleans every string before rendering it (table cells and ``markup=False``
    prints included): the CLI prints nothing else."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(clean(text), **kwargs)
