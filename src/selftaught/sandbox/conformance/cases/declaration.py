"""What the executor declares about itself: the isolation gate (improvers refuse to run unisolated
unless the user opted in) trusts ``isolated`` and the tier label, so they must agree with each other."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case, require
from selftaught.sandbox.conformance.runner import Session, tier_letter

A = "declaration"


def _isolated_matches_tier(s: Session) -> None:
    label_tier = tier_letter(s.executor.tier)
    require(s.executor.isolated == (label_tier != "C"),
            f"the executor declares isolated={s.executor.isolated} with tier label {s.executor.tier!r} "
            f"(tier {label_tier})")


CASES = [
    Case("isolated_matches_tier", A, "the executor's isolated flag agrees with the tier its label names",
         drive=_isolated_matches_tier),
]
