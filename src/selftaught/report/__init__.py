"""The run report: everything a run recorded, gathered once (``data``) and rendered as one
self-contained HTML file (``html``) or as terminal text (``cli/show.py``).

Reads the store only (an import-linter contract forbids sandbox and models here). matplotlib and
pygments are imported only when a report is written, so ``import selftaught`` stays light.
"""

from __future__ import annotations

from pathlib import Path


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for a run and return its path."""
    from selftaught.report.html import write_report as _write

    return _write(Path(run_dir), out)


__all__ = ["write_report"]
