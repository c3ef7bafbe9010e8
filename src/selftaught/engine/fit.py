"""Will a rewrite fit in ``model.max_tokens``? Improvers ask the model to rewrite a whole program (the
meta step: the improver itself; improver runs: a task's solution). A reply cut at ``max_tokens`` ends
mid-program, fails to parse and scores 0, so a budget too small for the program wastes every such call
while looking like a weak model. Checked before a run from the program sizes, without a tokenizer."""

from __future__ import annotations

import math

from selftaught.config import ModelConfig
from selftaught.tasks.base import Task

#: Characters per token of Python source (SmolLM2's tokenizer: the compact improver, 1,232 characters,
#: is 309 tokens). Erring low would make the warning cry wolf; the reply overhead below errs high.
CHARS_PER_TOKEN = 4.0
#: A reply holds the program plus a code fence and often a sentence or two around it.
REPLY_OVERHEAD = 1.2


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fit_warnings(meta_tokens: int, improver_tokens: int, improver_source: str, tasks: list[Task],
                 meta_key: str = "model.max_tokens", improver_key: str = "model.max_tokens") -> list[str]:
    """One line per program that a reply of the role that rewrites it cannot hold (empty: everything fits):
    the improver is rewritten by the ``meta`` role (``meta_tokens``, set by ``meta_key``), solutions by the
    ``improver`` role."""
    programs = [("the improver (the meta step's rewrite)", improver_source, meta_tokens, meta_key)]
    programs += [(f"{t.name}'s seed solution (improver runs' rewrites)", t.seed_solution, improver_tokens,
                  improver_key) for t in tasks]
    out = []
    for what, source, max_tokens, key in programs:
        need = math.ceil(tokens(source) * REPLY_OVERHEAD)
        if need > max_tokens:
            out.append(f"{key} = {max_tokens} cannot fit a rewrite of {what}: about {need} tokens; "
                       f"such replies will be cut and fail to parse; set {key} >= {need}")
    return out


def role_fit_warnings(model: ModelConfig, improver_source: str, tasks: list[Task]) -> list[str]:
    """``fit_warnings`` with each role's own ``max_tokens`` (``[model.meta]``, ``[model.improver]`` when set)."""
    meta_key = "model.meta.max_tokens" if model.meta is not None else "model.max_tokens"
    improver_key = "model.improver.max_tokens" if model.improver is not None else "model.max_tokens"
    return fit_warnings(model.for_role("meta").max_tokens, model.for_role("improver").max_tokens,
                        improver_source, tasks, meta_key, improver_key)
