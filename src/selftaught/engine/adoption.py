"""When a self-modification replaces its parent.

``nonzero`` is the reference's rule: adopt whenever the candidate ran and its meta-utility is not 0
(it never compares with the parent). ``improves`` (default) adopts only a real gain: the candidate must
beat the parent on the validation instances both in the screening evaluation that picked it and in a
fresh confirmation evaluation (new model samples), so a lucky draw among many candidates (a false elite)
is not adopted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selftaught.store import MetaEvaluationRecord


@dataclass(frozen=True)
class Decision:
    adopted: bool
    evaluation: MetaEvaluationRecord  # the evaluation that decided (reported for the candidate)
    reason: str


def decide(rule: str, parent_val: float, screening: MetaEvaluationRecord,
           confirm: Callable[[], MetaEvaluationRecord],
           confirm_parent: Callable[[], float] | None = None) -> Decision:
    """``confirm_parent``: the parent's û on the confirmation's own draws (paired); unset: ``parent_val``."""
    if rule == "nonzero":
        ok = screening.val != 0
        return Decision(ok, screening, "meta-utility is not 0" if ok else "meta-utility is 0")
    if screening.val <= parent_val:
        return Decision(False, screening, f"screening {screening.val:.3f} <= parent {parent_val:.3f}")
    confirmed = confirm()
    bar = confirm_parent() if confirm_parent is not None else parent_val
    if confirmed.val <= bar:
        return Decision(False, confirmed, f"confirmation {confirmed.val:.3f} <= parent {bar:.3f}")
    return Decision(True, confirmed, f"confirmed {confirmed.val:.3f} > parent {bar:.3f}")
