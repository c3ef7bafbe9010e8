"""Analyses of a finished run: static audit, reward-hacking detectors, strategy taxonomy.

Each reads the store (never executes a program) and records its findings in the run's ``findings``
table, replacing its earlier ones, so analysing a run again is idempotent.
"""

from __future__ import annotations

from pathlib import Path

from selftaught.analysis.findings_store import Finding


def analyse_run(run_dir: Path, judge: object | None = None) -> dict[str, list[Finding]]:
    """Run every analysis on one run and record the findings: {analyzer: findings}."""
    from selftaught.analysis.audit import audit_run
    from selftaught.analysis.reward_hacking import reward_hacking_run
    from selftaught.analysis.strategies import classify_run

    return {"audit": audit_run(Path(run_dir)), "reward_hacking": reward_hacking_run(Path(run_dir)),
            "strategies": classify_run(Path(run_dir), judge)}  # type: ignore[arg-type]


__all__ = ["Finding", "analyse_run"]
