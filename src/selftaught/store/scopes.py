"""Names of the scopes meta-evaluations are recorded under: the engine writes them, show and the report
read them, so they are spelt in one place."""

from __future__ import annotations


def screening_scope(improver_hash: str) -> str:
    """Screening: every improver of a run, on the run's common model draws."""
    return f"mu/{improver_hash[:16]}"


def confirm_scope(iteration: int, improver_hash: str) -> str:
    """A candidate's confirmation on the fresh draws of step ``iteration`` (a candidate proposed again
    at a later step is confirmed again, on that step's draws)."""
    return f"t{iteration}/confirm/{improver_hash[:16]}"


def confirm_parent_scope(iteration: int, parent_hash: str) -> str:
    """The parent on the same fresh draws as its candidate's confirmation at step ``iteration``."""
    return f"t{iteration}/confirm-parent/{parent_hash[:16]}"


def final_scope(improver_hash: str) -> str:
    """I_0 and I_T on the final comparison's fresh, shared draws."""
    return f"final/{improver_hash[:16]}"
