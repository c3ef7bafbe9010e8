"""Source bombs: programs that cannot even be compiled (deep expressions, nesting, null bytes, recursion
at load) or are huge. Loading them is an ``error`` verdict, never a crash of the guest or the host."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.limits import Limits

A = "source"


def _load(name: str, why: str, source: str, verdicts: tuple[str, ...] = ("error",), **kw) -> Case:
    return Case(name, A, why, source, verdicts, phase="load", **kw)


CASES = [
    _load("deep_expression", "a 50,000-term 1+1+... expression", "x = " + "1+" * 50_000 + "1\n"),
    _load("deep_parentheses", "parentheses nested 300 deep", "x = " + "(" * 300 + "1" + ")" * 300 + "\n"),
    _load("deep_blocks", "25 statically nested loops (Python allows 20)",
          "".join("    " * i + "for _ in ():\n" for i in range(25)) + "    " * 25 + "pass\n"),
    _load("null_bytes", "null bytes in the source", "x = 1\n\0\ndef attack(ctx):\n    return 1\n"),
    _load("recursion_at_load", "unbounded recursion in the top level",
          "def f(n):\n    return f(n + 1)\nf(0)\n"),
    _load("huge_source", "an 8 MB source (a string literal), loaded at bounded cost",
          "x = '" + "a" * (8 << 20) + "'\ndef attack(ctx):\n    return len(x)\n", ("ok", "error"),
          limits=Limits(wall_seconds=30, memory_mb=1024)),
    _load("syntax_error", "control: a program that is not Python", "def attack(ctx) return 1\n"),
]
