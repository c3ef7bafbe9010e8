"""The outcome of a conformance check: one line per case, and whether the executor conforms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class CaseResult:
    case: str
    attack: str
    status: Status
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ConformanceReport:
    """``ok`` when no applicable case failed; ``skipped`` cases check promises of stronger tiers."""

    executor: str
    tier: str
    results: list[CaseResult] = field(default_factory=list)

    def by_status(self, status: Status) -> list[CaseResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failed(self) -> list[CaseResult]:
        return self.by_status("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        counts = {s: len(self.by_status(s)) for s in ("passed", "failed", "skipped")}
        head = (f"conformance of {self.executor} (tier {self.tier}): {counts['passed']} passed, "
                f"{counts['failed']} failed, {counts['skipped']} skipped")
        return "\n".join([head] + [f"  FAILED {r.attack}/{r.case}: {r.detail}" for r in self.failed])
