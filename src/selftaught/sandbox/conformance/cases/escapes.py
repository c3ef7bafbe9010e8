"""Terminal escapes: text a program puts in an exception, its output or its answer carries control
sequences (clear screen, erase line, OSC 52 clipboard writes, a terminal reset, bidi overrides, 8-bit
CSI). The executor reports such a program like any other (``error`` or ``ok``, never a host failure) and
passes its text on as text: the CLI's ``clean`` then leaves the printable part and no control sequence."""

from __future__ import annotations

from selftaught.safe_text import clean
from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.executor import CallResult

A = "escapes"
#: Clear screen, home, erase line, OSC 52 (clipboard), a window title, 8-bit CSI, RIS, a bidi override, CR.
HOSTILE = ("\x1b[2J\x1b[H\x1b[2K\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;owned\x1b\\\x9b31m\x1bc\u202e\r"
           "VISIBLE-TEXT [bold]markup[/]")
CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


def _shown(text: object) -> str | None:
    """Why ``text`` would not be shown safely (None: it would)."""
    shown = clean(text)
    if any(c in shown for c in CONTROLS):
        return f"a control sequence survives clean(): {shown[:120]!r}"
    if "VISIBLE-TEXT [bold]markup[/]" not in shown:
        return f"the printable text was lost: {shown[:120]!r}"
    return None


def _error(res: CallResult) -> str | None:
    return _shown(res.error or "")


def _output(res: CallResult) -> str | None:
    return _shown(res.output or "") if HOSTILE[-10:] in (res.output or "") else None


CASES = [
    Case("exception_escapes", A, "an exception whose message clears the screen and writes the clipboard",
         f"def attack(ctx):\n    raise RuntimeError({HOSTILE!r})\n", ("error",), expect=_error),
    Case("exception_type_escapes", A, "an exception class whose name carries escape sequences",
         f"def attack(ctx):\n    raise type({HOSTILE!r}.replace(' ', '_'), (Exception,), {{}})('x')\n",
         ("error",), expect=lambda res: None if "\x1b" not in clean(res.error or "") else "ESC survives"),
    Case("printed_escapes", A, "escape sequences printed to stdout and stderr",
         f"import sys\ndef attack(ctx):\n    print({HOSTILE!r})\n    print({HOSTILE!r}, file=sys.stderr)\n"
         "    return 1\n", ("ok",), expect=_output),
    Case("answer_escapes", A, "an answer string full of escape sequences",
         f"def attack(ctx):\n    return {HOSTILE!r} * 1000\n", ("ok",),
         contained=lambda value: isinstance(value, str) and _shown(value) is None),
    Case("unterminated_osc_megabyte", A, "a megabyte of unterminated OSC and CSI openers in an exception",
         "def attack(ctx):\n    raise RuntimeError('\\x1b]52;c;' * 100000 + '\\x1b[1;' * 100000)\n", ("error",),
         expect=lambda res: None if "\x1b" not in clean(res.error or "") else "ESC survives"),
]
