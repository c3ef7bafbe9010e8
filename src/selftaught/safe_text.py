"""Text a program or a model produced, without the control sequences a terminal would obey.

An exception message, a finding's snippet or a stored verdict note is hostile input: raw, it can clear the
screen, erase lines, rewrite the window title, set the clipboard (OSC 52) or reorder what the user reads
(bidi overrides). ``clean`` removes every control sequence in one regular-expression pass: each
alternative starts with a distinct character and has no nested repetition, so the pass is linear in the
text. Here, not in the CLI, so that the sandbox conformance suite can hold an executor's verdict texts
to it too.
"""

from __future__ import annotations

import re

_ST = r"(?:\x07|\x1b\\|\x9c)?"  # string terminator: BEL, ESC \ or 8-bit ST (absent: the rest of the text)
_CONTROL = re.compile(
    r"\x1b[\]PX^_][^\x07\x1b\x9c]*" + _ST  # OSC (title, clipboard, hyperlinks), DCS, SOS, PM, APC
    + r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"  # CSI (7- and 8-bit): cursor, erase, colours
    + r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*" + _ST  # their 8-bit forms
    + r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"  # any other escape sequence (ESC c resets the terminal)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # what is left of C0 (not \t or \n), DEL and C1; \r rewrites a line
    r"|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"  # bidi marks, embeddings, overrides and isolates
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # a lone surrogate cannot be encoded: the print would raise
#: Any character that starts something ``clean`` removes (ESC and CSI are in C0/C1): text without one is
#: returned as it is after a single class scan, the common case.
_SUSPECT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(text: object) -> str:
    """``text`` (anything: ``str()`` is taken) without control sequences; printable text is kept as is."""
    text = str(text)
    if _SUSPECT.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))
