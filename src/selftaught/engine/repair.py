"""Host-side repair of candidate improvers: a near-miss rewrite is not a lost sample.

Small models rarely return an improver that runs as written: replies are cut at the token cap (a
bracket or docstring never closed), lines repeat dozens of times, fences stay in the code. Repair is
text surgery in the host, then a merge into the parent gated by a behavioural check:

0. a candidate that loads is left as it is;
1. clean: strip leading and trailing fence lines, collapse runs of identical lines, close brackets and strings left open;
2. if the cleaned program passes ``check`` (the smoke test), it is the candidate; if it loads but
   fails or is weak, it is left as it is (repair fixes text damage, it does not second-guess a choice;
   the smoke gate then scores it 0);
3. otherwise merge it into the parent hunk by hunk (difflib opcodes), keeping a hunk only if the
   merged program still passes ``check``. Nothing kept: the candidate is the parent itself.

What comes out either passed the check, ran, or is the parent: repair never turns a broken reply into a
"valid" broken improver, because parsing is not enough (a parse-only gate let broken candidates through).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from selftaught.engine.programs import Unparsed, canonical_dump, parse

#: A behavioural check's verdict: ``pass``; ``weak`` (it loads, then fails or returns a poor program: the
#: model's choice, not text damage, so it is left as it is); ``broken`` (it does not load).
Check = Literal["pass", "weak", "broken"]
#: Merging tries at most this many hunks (each costs one smoke test); the rest stay as in the parent.
MAX_HUNKS = 16
#: Smoke tests one repair may run in all (raw reply, cleaned reply, merged hunks): one meta-utility call
#: must not buy 18 sandboxed runs. The rest of the hunks stay as in the parent; the count is in the steps.
MAX_SMOKE_TESTS = 4
#: Longest program (lines) merged hunk by hunk: difflib's matching is quadratic in lines at worst, and a
#: model-written improver has a few hundred. A longer broken candidate is not merged (the parent stays).
MAX_MERGE_LINES = 2_000
_FENCE = re.compile(r"^\s*```")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_STATEMENT = re.compile(r"^\s*(def|class|return|if|elif|else|for|while|try|except|finally|with|import|from|"
                        r"raise|assert|yield|pass|break|continue)\b|^\s*@|^\s*\w+\s*=[^=]")


@dataclass(frozen=True)
class Repair:
    """What repair did to one raw candidate: the result and the steps, in order (for the store and the
    lineage)."""

    raw: str
    source: str
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.source != self.raw


def canonical_hash(source: str) -> str | None:
    """Hash of the program's AST without docstrings: two candidates that differ only in comments,
    layout or docstrings behave the same and are scored once. None when it does not parse (or is over
    the size cap, or too deep for the parser): such a candidate has no twin."""
    tree = parse(source)
    if not isinstance(tree, ast.Module):
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[:] = body[1:] or [ast.Pass()]  # in place: the node's own body list
    return hashlib.sha256(canonical_dump(tree)).hexdigest()


def parses(source: str) -> bool:
    return isinstance(parse(source), ast.Module)


def strip_fences(text: str) -> str:
    """Drop Markdown fence lines at the start and end (a reply often ends with an unmatched ```); a
    fence line inside the program is left alone (the paper's seed improver has them in its prompt)."""
    lines = text.splitlines()
    while lines and (_FENCE.match(lines[-1]) or not lines[-1].strip()):
        lines.pop()
    start = 0
    while start < len(lines) and (_FENCE.match(lines[start]) or not lines[start].strip()):
        start += 1
    return "\n".join(lines[start:])


def collapse_repeats(text: str) -> str:
    """Keep one line of each run of identical non-blank lines (a small model loops on a line)."""
    out: list[str] = []
    for line in text.splitlines():
        if out and line.strip() and line == out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


def _scan(line: str, stack: list[str], quote: str | None) -> str | None:
    """Update the open-bracket stack over one line; returns the string delimiter still open at its end
    (only triple quotes can stay open across lines)."""
    i = 0
    while i < len(line):
        if quote:
            if line.startswith(quote, i):
                i, quote = i + len(quote), None
                continue
            i += 2 if line[i] == "\\" else 1
            continue
        ch = line[i]
        if ch == "#":
            break
        if ch in "'\"":
            quote = line[i:i + 3] if line[i:i + 3] in ("'''", '"""') else ch
            i += len(quote)
            continue
        if ch in _OPENERS:
            stack.append(_OPENERS[ch])
        elif ch in _OPENERS.values() and stack and stack[-1] == ch:
            stack.pop()
        i += 1
    return quote if quote in ("'''", '"""') else None


def close_open(text: str) -> str:
    """Close brackets a line left open when the next line starts a new statement, and at the end close
    an open triple-quoted string and every bracket still open."""
    out: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    for line in text.splitlines():
        if stack and quote is None and out and _STATEMENT.match(line):
            out[-1] += "".join(reversed(stack))
            stack = []
        quote = _scan(line, stack, quote)
        out.append(line)
    if out and quote:
        out[-1] += quote
    if out and stack:
        out[-1] += "".join(reversed(stack))
    return "\n".join(out) + "\n"


def clean(raw: str) -> tuple[str, list[str]]:
    """The three text steps; returns the cleaned source and the names of the steps that changed it."""
    steps = []
    text = raw
    for name, step in (("strip fences", strip_fences), ("collapse repeated lines", collapse_repeats),
                       ("close open brackets and strings", close_open)):
        new = step(text)
        if new.strip() != text.strip():
            steps.append(name)
        text = new
    return text, steps


def merge(parent: str, candidate: str, check: Callable[[str], Check]) -> tuple[str, int, int]:
    """The parent with each of the candidate's hunks that keeps ``check`` passing applied, in order.
    Returns (merged source, hunks kept, hunks tried)."""
    a, b = parent.splitlines(), candidate.splitlines()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    hunks = [k for k, op in enumerate(ops) if op[0] != "equal"]
    kept: set[int] = set()

    def build(chosen: set[int]) -> str:
        lines: list[str] = []
        for k, (tag, i1, i2, j1, j2) in enumerate(ops):
            lines += b[j1:j2] if tag == "equal" or k in chosen else a[i1:i2]
        return "\n".join(lines) + "\n"

    tried = 0
    for k in hunks[:MAX_HUNKS]:
        trial = build(kept | {k})
        try:
            if parses(trial) and check(trial) == "pass":
                kept.add(k)
        except SmokeTestsSpent:
            break
        tried += 1
    return (build(kept) if kept else parent), len(kept), tried


class SmokeTestsSpent(Exception):
    """A repair ran its ``MAX_SMOKE_TESTS``: what is left untried stays as in the parent."""


class _Counted:
    """``check`` that counts its runs and refuses past ``cap`` (raising ``SmokeTestsSpent``)."""

    def __init__(self, check: Callable[[str], Check], cap: int) -> None:
        self.check, self.cap, self.runs = check, cap, 0

    def __call__(self, source: str) -> Check:
        if self.runs >= self.cap:
            raise SmokeTestsSpent
        self.runs += 1
        return self.check(source)


def repair(raw: str, parent: str, check: Callable[[str], Check]) -> Repair:
    """A candidate made from ``raw`` that passes ``check`` or at least runs (else the parent). A raw
    candidate that loads is returned as it is: repair only touches text damage. So is one beyond the
    parser's limits (over the size cap, nested past its recursion): that is not text damage, and the
    smoke gate refuses it with the reason. At most ``MAX_SMOKE_TESTS`` runs of ``check`` in all."""
    counted = _Counted(check, MAX_SMOKE_TESTS)
    tree = parse(raw)
    if (isinstance(tree, Unparsed) and tree.beyond_limits) or (isinstance(tree, ast.Module) and counted(raw) != "broken"):
        return Repair(raw, raw, [])
    cleaned, steps = clean(raw)
    if parses(cleaned) and counted(cleaned) != "broken":
        return Repair(raw, cleaned if steps else raw, steps)
    lines = max(parent.count("\n"), cleaned.count("\n")) + 1
    if lines > MAX_MERGE_LINES:
        why = f"not merged: {lines:,} lines, more than the {MAX_MERGE_LINES:,} repair merges (the parent is kept)"
        return Repair(raw, parent, [*steps, why])
    merged, kept, tried = merge(parent, cleaned, counted)
    merged_step = f"merged {kept} of {tried} hunk(s) into the parent ({counted.runs} smoke test(s))"
    return Repair(raw, merged, [*steps, merged_step])
