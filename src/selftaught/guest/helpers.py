"""``from helpers import extract_code``: the helper the paper's improvers import.

Behaviour improvers rely on: for a string, the largest fenced code block (fences removed) or None; for
a list, a list of those; anything else, None. Unlike the reference we also accept untagged and indented
fences (small models write them) and an unterminated last block (a reply cut at the token limit).
A block closes at the *farthest* closing fence that leaves valid Python (else at the nearest one), so an
improver whose prompt string itself contains fenced lines is not cut apart at them.

It reads a reply in one pass over its lines. Python is valid past a closing fence only if that fence
line sits inside a triple-quoted string, so instead of parsing the block at every candidate fence (cubic:
a 4 KB reply of fence lines took minutes) each line is scanned once for the string it leaves open, and a
block closes at the first closing fence outside any string; one parse confirms a close that skipped
fences. Re-reading after a close that did not confirm is capped (``_REREAD``): past it, blocks close at
their nearest fence, so any reply costs time linear in its length.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[ \t]*$")
# What decides whether a Python string is open: an escape, a triple or single quote, a comment.
_LEXEME = re.compile(r"\\.?|'''|\"\"\"|['\"#]")
#: Characters of a reply that may be read a second time (re-scanned, or parsed to confirm a close), as a
#: multiple of its length: the bound that keeps the worst reply linear.
_REREAD = 4


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deep nesting overflows the parser
        return False
    return True


def _open_string(line: str, quote: str | None) -> str | None:
    """The Python string left open at the end of ``line`` when ``quote`` was open at its start: a
    triple-quoted one, or a single-quoted one continued by a final backslash."""
    lexeme = ""
    for m in _LEXEME.finditer(line):
        lexeme = m.group()
        if lexeme[0] == "\\":
            continue  # an escape inside a string; a line continuation outside one
        if quote is None:
            if lexeme == "#":
                return None  # a comment: the rest of the line is not code
            quote = lexeme
        elif lexeme == quote or (len(quote) == 1 and lexeme[0] == quote):
            quote = None  # (''''' in a '-string: it closes, then an empty string)
    return quote if quote is None or len(quote) == 3 or lexeme == "\\" else None


def _closes(line: str, fence: str) -> bool:
    """Is ``line`` a fence that closes a block opened by ``fence`` (same character, as long, untagged)?"""
    m = _FENCE.match(line)
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2)


def _block(lines: list[str], start: int, end: int) -> str:
    return textwrap.dedent("\n".join(lines[start + 1:end]))


def _blocks(text: str) -> list[str]:
    lines = text.splitlines()
    blocks: list[str] = []
    reread = _REREAD * len(text)  # characters that may still be read again
    done = 0  # lines before this index have been read once already
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening.group(1)
        lexing = reread > 0
        nearest = chosen = None
        quote: str | None = None
        j = i + 1
        while j < len(lines):
            line = lines[j]
            if j < done:
                reread -= len(line) + 1
            if _closes(line, fence):
                nearest = j if nearest is None else nearest
                if quote is None:
                    chosen = j
                    break
            elif lexing:
                quote = _open_string(line, quote)
            j += 1
        done = max(done, j)
        if chosen is not None and chosen != nearest:  # it skipped fences inside a string: confirm
            body = _block(lines, i, chosen)
            reread -= len(body)
            if not _compiles(body):
                chosen = nearest
        chosen = nearest if chosen is None else chosen
        end = chosen if chosen is not None else len(lines)
        blocks.append(_block(lines, i, end).strip("\n"))
        i = end + 1
    return [b for b in blocks if b.strip()]


def extract_code(x: Any) -> Any:
    """The largest fenced code block of a reply, or None; list in, list out."""
    if isinstance(x, list):
        return [extract_code(item) for item in x]
    if not isinstance(x, str):
        return None
    blocks = _blocks(x)
    return max(blocks, key=len) if blocks else None
