"""Who wrote a candidate improver: the model, the host's repair of a model reply, or the improver's own
code. A self-improvement step's candidates reach the meta-utility as plain source, so authorship is read
from the evidence: the model's replies of that step. A candidate whose lines (beyond imports and blank
lines) mostly appear in those replies is the model's; the rest the improver built itself (the `small`
improver's one-constant variants are edits of its own source). Linear in the texts' sizes: one set of
reply lines, one pass over the candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Author = Literal["people", "model", "repaired", "improver"]

#: Share of a candidate's lines found in the step's replies from which the model wrote it.
MODEL_SHARE = 0.5
#: Longest text read per reply and per candidate (the meta-utility caps programs far below this).
READ_CHARS = 1_000_000


def _lines(text: str) -> list[str]:
    return [s for line in text[:READ_CHARS].splitlines()
            if (s := line.strip()) and not s.startswith(("import ", "from ", "#"))]


def from_replies(proposal: str, replies: Iterable[str]) -> bool:
    """Whether most of ``proposal``'s lines come from the model's ``replies``."""
    lines = _lines(proposal)
    if not lines:
        return False
    seen = {line for reply in replies for line in _lines(reply)}
    return sum(line in seen for line in lines) >= MODEL_SHARE * len(lines)


def author_of(proposal: str, candidate: str, replies: Iterable[str]) -> Author:
    """The author of ``candidate``, the version of ``proposal`` (what the improver offered) that the host
    scores after repair."""
    if not from_replies(proposal, replies):
        return "improver"
    return "model" if candidate == proposal else "repaired"
