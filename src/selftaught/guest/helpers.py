"""``from helpers import extract_code``: the helper the paper's improvers import.

Behaviour improvers rely on: for a string, the largest fenced code block (fences removed) or None; for
a list, a list of those; anything else, None. Unlike the reference we also accept untagged and indented
fences (small models write them) and an unterminated last block (a reply cut at the token limit).
A block closes at the *farthest* closing fence that leaves valid Python (else at the nearest one), so an
improver whose prompt string itself contains fenced lines is not cut apart at them.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[ \t]*$")


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deep nesting overflows the parser
        return False
    return True


def _blocks(text: str) -> list[str]:
    lines = text.splitlines()
    fences = [(i, m.group(1), m.group(2)) for i, line in enumerate(lines) if (m := _FENCE.match(line))]
    blocks: list[str] = []
    k = 0
    while k < len(fences):
        start, fence, _ = fences[k]
        closes = [n for n in range(k + 1, len(fences))
                  if fences[n][1][0] == fence[0] and len(fences[n][1]) >= len(fence) and not fences[n][2]]
        chosen = None
        for n in reversed(closes):
            body = textwrap.dedent("\n".join(lines[start + 1:fences[n][0]]))
            if _compiles(body):
                chosen = n
                break
        if chosen is None and closes:
            chosen = closes[0]
        end = fences[chosen][0] if chosen is not None else len(lines)
        blocks.append(textwrap.dedent("\n".join(lines[start + 1:end])).strip("\n"))
        k = chosen + 1 if chosen is not None else len(fences)
    return [b for b in blocks if b.strip()]


def extract_code(x: Any) -> Any:
    """The largest fenced code block of a reply, or None; list in, list out."""
    if isinstance(x, list):
        return [extract_code(item) for item in x]
    if not isinstance(x, str):
        return None
    blocks = _blocks(x)
    return max(blocks, key=len) if blocks else None
