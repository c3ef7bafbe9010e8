"""The sandbox conformance suite: hostile programs any executor must contain, checked with one call.

    from selftaught.sandbox.conformance import check
    report = check(MyExecutor())
    print(report.summary()); assert report.ok

Each case is a program of one attack class (network, secrets, filesystem, persistence between
programs, processes, limits, raw syscalls, SysV/POSIX IPC, forged CPU clocks, forged verdicts, hostile
channel frames, hostile RPCs, seeds, unloadable sources). A case passes when the program gets the
verdict the case requires, nothing it sends back carries a planted host secret, its output is bounded,
the host process neither raised nor grew past the case's memory bound, nothing changed outside the
sandbox, and a later program in the same executor still works and finds nothing left behind. Cases
are marked with the isolation tiers whose promises they check; the others are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from selftaught.sandbox.conformance.case import MARKER, Case, CaseFailed
from selftaught.sandbox.conformance.cases import CASES
from selftaught.sandbox.conformance.host import HostSecrets, planted
from selftaught.sandbox.conformance.probe import Baseline
from selftaught.sandbox.conformance.report import CaseResult, ConformanceReport
from selftaught.sandbox.conformance.rpc import StrictHandler
from selftaught.sandbox.conformance.runner import Session, later_program, run_case, tier_letter
from selftaught.sandbox.executor import Executor

__all__ = ["CASES", "MARKER", "Baseline", "Case", "CaseFailed", "CaseResult", "ConformanceReport", "HostSecrets",
           "Session", "StrictHandler", "check", "later_program", "planted", "run_case", "tier_letter"]


def check(executor: Executor, *, tier: str | None = None, cases: Iterable[Case] | None = None,
          attack: str | None = None) -> ConformanceReport:
    """Run the suite (or ``cases``, or one ``attack`` class) against ``executor``.

    ``tier``: the isolation tier to hold the executor to ("A", "B" or "C"); by default the weakest tier
    its label names (see ``tier_letter``). The executor stays open; closing it is the caller's job.
    """
    letter = (tier or tier_letter(executor.tier)).upper()
    chosen = [c for c in (CASES if cases is None else cases) if attack is None or c.attack == attack]
    report = ConformanceReport(executor.tier, letter)
    with planted() as host:
        baseline = Baseline(later_program(executor, letter, host.as_args()["host_uid"]))
        for case in chosen:
            if not case.applies_to(letter):
                report.results.append(CaseResult(case.name, case.attack, "skipped",
                                                 f"checks tiers {case.tiers} only"))
                continue
            start = time.monotonic()
            try:
                run_case(case, executor, letter, host, baseline)
            except CaseFailed as exc:
                report.results.append(CaseResult(case.name, case.attack, "failed", str(exc),
                                                 time.monotonic() - start))
                continue
            report.results.append(CaseResult(case.name, case.attack, "passed", "", time.monotonic() - start))
    return report
