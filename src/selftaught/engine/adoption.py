"""When a self-modification replaces its parent.

``nonzero`` is the reference's rule: adopt whenever the candidate ran and its meta-utility is not 0
(it never compares with the parent). ``improves`` (default) adopts only a real gain: the candidate must
beat the parent on the validation instances both in the screening evaluation that picked it and in a
fresh confirmation evaluation (new model samples), so a lucky draw among many candidates (a false elite)
is not adopted. The evidence is stated with the decision: the paired permutation test's p-value of the
confirmation's runs (candidate against parent on the same draws). With ``meta_utility_tests`` runs it
cannot go below 2 / 2^runs (0.125 at 4): a step's adoption is a screen, and the run's claim rests on the
final comparison of I_T with I_0 on ``final_tests`` fresh paired runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selftaught.stats import sign_flip_test
from selftaught.store import MetaEvaluationRecord


@dataclass(frozen=True)
class Decision:
    adopted: bool
    evaluation: MetaEvaluationRecord  # the evaluation that decided (reported for the candidate)
    reason: str


def paired_p(parent: MetaEvaluationRecord, candidate: MetaEvaluationRecord) -> tuple[int, float]:
    """(pairs, permutation p) of the candidate's runs against the parent's, paired by (task, run)."""
    mine = {(r.task, r.run): r.val for r in candidate.runs}
    diffs = [mine[(r.task, r.run)] - r.val for r in parent.runs if (r.task, r.run) in mine]
    return len(diffs), sign_flip_test(diffs)


def decide(rule: str, parent_val: float, screening: MetaEvaluationRecord,
           confirm: Callable[[], MetaEvaluationRecord],
           confirm_parent: Callable[[], MetaEvaluationRecord] | None = None) -> Decision:
    """``confirm_parent``: the parent's evaluation on the confirmation's own draws (paired); unset:
    ``parent_val``."""
    if rule == "nonzero":
        ok = screening.val != 0
        return Decision(ok, screening, "meta-utility is not 0" if ok else "meta-utility is 0")
    if screening.val <= parent_val:
        return Decision(False, screening, f"screening {screening.val:.3f} <= parent {parent_val:.3f}")
    confirmed = confirm()
    parent = confirm_parent() if confirm_parent is not None else None
    bar = parent.val if parent is not None else parent_val
    evidence = ""
    if parent is not None:
        n, p = paired_p(parent, confirmed)
        evidence = f" on {n} paired runs (permutation p = {p:.3f})"
    if confirmed.val <= bar:
        return Decision(False, confirmed, f"confirmation {confirmed.val:.3f} <= parent {bar:.3f}{evidence}")
    return Decision(True, confirmed, f"confirmed {confirmed.val:.3f} > parent {bar:.3f}{evidence}")
