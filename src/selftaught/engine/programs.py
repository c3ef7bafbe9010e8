"""Identity of programs: a content hash, so evaluations can be memoised and resumed; and the one bounded
way the host reads a program's text as Python.

Programs are written by a model (or by another program): hostile input for the host that parses them to
repair, de-duplicate or gate them. ``parse`` is the one place the engine turns such text into a tree: it
refuses a program over ``MAX_PROGRAM_CHARS`` before parsing (the parse costs time and memory in
proportion: a 6 MB improver cost the host 3.85 GB), and turns what the parser itself cannot handle (a
50,000-term expression overflows its recursion, a null byte) into a one-line reason, never an exception.
What uses the tree afterwards walks it iteratively (``canonical_dump``): a 1,500-term expression parses
fine but is 1,500 levels deep, past what a recursive walk such as ``ast.dump`` survives.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

#: Longest program (characters) the host accepts from a program or a model: a solution sent to
#: ``utility``, an improver sent to ``meta_utility`` or returned by an improver run. Model-written
#: programs are a few thousand characters; the analyses read programs up to the same size
#: (``analysis.syntax.MAX_SOURCE_CHARS``). A longer one is a verdict (score 0), not host work.
MAX_PROGRAM_CHARS = 100_000


def program_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def too_large(source: str) -> str | None:
    """Why ``source`` is refused unread (over ``MAX_PROGRAM_CHARS``), else None."""
    if len(source) > MAX_PROGRAM_CHARS:
        return f"the program has {len(source):,} characters, more than the {MAX_PROGRAM_CHARS:,} allowed"
    return None


@dataclass(frozen=True)
class Unparsed:
    """Why a program has no AST: a one-line reason, and whether a limit (size, nesting) rather than a
    syntax error refused it (such a program cannot load anywhere: no need to try it in a sandbox)."""

    reason: str
    beyond_limits: bool = False


def parse(source: str) -> ast.Module | Unparsed:
    """The program's AST, or why there is none. Never raises: the size is checked first (linear), then
    whatever the parser refuses (syntax, nesting past its recursion limit, memory, null bytes,
    surrogates) is caught here, the one place the engine parses model-written text."""
    reason = too_large(source)
    if reason is not None:
        return Unparsed(reason, beyond_limits=True)
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        return Unparsed(f"SyntaxError: {exc.msg}" + (f" (line {exc.lineno})" if exc.lineno else ""))
    except (RecursionError, MemoryError) as exc:
        return Unparsed(f"the program is nested too deeply to compile ({type(exc).__name__})", beyond_limits=True)
    except ValueError as exc:  # null bytes, unencodable surrogates
        return Unparsed(f"{type(exc).__name__}: {str(exc)[:200]}")


class _Mark(bytes):
    """Punctuation of ``canonical_dump`` (a bytes constant of the program is data, written with repr)."""


def canonical_dump(tree: ast.AST) -> bytes:
    """A serialisation of the tree like ``ast.dump`` (fields, no positions), built with an explicit stack
    so that depth costs no recursion, in time linear in the number of nodes. Integers are written in
    hexadecimal: ``repr`` of an integer literal past 4,300 digits (``0xfff...``) raises ValueError."""
    out: list[bytes] = []
    stack: list[object] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, _Mark):
            out.append(item)
        elif isinstance(item, ast.AST):
            out.append(type(item).__name__.encode() + b"(")
            stack.append(_Mark(b")"))
            for name in reversed(item._fields):
                stack += [getattr(item, name, None), _Mark(name.encode() + b"=")]
        elif isinstance(item, list):
            out.append(b"[")
            stack.append(_Mark(b"]"))
            stack += reversed(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(b"i" + format(item, "x").encode() + b",")
        else:
            out.append(repr(item).encode("utf-8", "surrogatepass") + b",")
    return b"".join(out)
