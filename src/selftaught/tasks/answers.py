"""Validation of answers as the host receives them: arbitrary JSON-decoded values.

Every built-in ``Task.score`` goes through these helpers, so the shape, type and value rules (and the
reward-hacking holes they close) live in one place. Each helper either returns a clean numpy/Python
value or raises ``InvalidAnswer`` with a reason short enough to show the model.

``plain`` applies the wire format's rules (arrays -> nested lists, numpy scalars -> Python numbers,
tuples -> lists), so a solution run in-process (tests, reports) is scored exactly as one run in the
sandbox.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selftaught.tasks.base import InvalidAnswer

#: JSON scalar types a label may have (bool is an int subclass; None is not a label).
_SCALARS = (bool, int, float, str)


#: Deeper nesting than this is never a valid answer; refusing it early avoids RecursionError.
MAX_DEPTH = 8


def plain(answer: Any, _depth: int = 0) -> Any:
    """The value as it arrives from the sandbox: numpy arrays/scalars and tuples become plain data."""
    if _depth > MAX_DEPTH:
        raise InvalidAnswer(f"answer is nested more than {MAX_DEPTH} levels deep")
    tolist = getattr(answer, "tolist", None)
    if callable(tolist) and hasattr(answer, "dtype"):
        answer = tolist()
    if isinstance(answer, (list, tuple)):
        return [plain(v, _depth + 1) for v in answer]
    return answer


def describe(answer: Any, _depth: int = 0) -> str:
    """A short description of a value's type and shape for error messages (never the whole value)."""
    if isinstance(answer, list):
        inner = f" of {describe(answer[0], _depth + 1)}" if answer and _depth < 2 else ""
        return f"list of length {len(answer)}{inner}"
    if isinstance(answer, int) and answer.bit_length() > 64:
        return f"int with {answer.bit_length()} bits"
    text = repr(answer)
    return f"{type(answer).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def clamp01(value: float) -> float:
    """Last line of defence: a score is a finite float in [0, 1] whatever the arithmetic did."""
    value = float(value)
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))


def number(value: Any, what: str = "answer") -> float:
    """A finite int or float (bools rejected: ``True`` is not a number a solution meant to return)."""
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAnswer(f"{what} must be a number, got {describe(value)}")
    try:
        as_float = float(value)
    except OverflowError:  # a huge int cannot be a valid value of any built-in task
        raise InvalidAnswer(f"{what} is too large") from None
    if not math.isfinite(as_float):
        raise InvalidAnswer(f"{what} must be finite, got {value!r}")
    return as_float


def flat_list(answer: Any, length: int, what: str) -> list[Any]:
    """A flat list of exactly ``length`` scalars.

    Closes the reference's shape hole: a column vector (``length`` x 1) compared without reshaping
    broadcast to ``length`` x ``length`` and scored about ``length`` times too high.
    """
    answer = plain(answer)
    if not isinstance(answer, list):
        raise InvalidAnswer(f"{what} must be a list of {length} values, got {describe(answer)}")
    if len(answer) != length:
        raise InvalidAnswer(f"{what} must have exactly {length} entries, got {len(answer)}")
    if any(isinstance(v, (list, dict)) for v in answer):
        raise InvalidAnswer(f"{what} must be flat (1-D, shape ({length},)), got {describe(answer)}")
    return answer


def binary_vector(answer: Any, length: int, what: str = "predictions") -> np.ndarray:
    """Exactly ``length`` values in {0, 1} (ints, bools or 0.0/1.0) as an int array."""
    values = flat_list(answer, length, what)
    out = np.empty(length, dtype=np.int64)
    for i, v in enumerate(values):
        if not isinstance(v, (bool, int, float)) or v not in (0, 1):
            raise InvalidAnswer(f"{what}[{i}] must be 0 or 1, got {describe(v)}")
        out[i] = int(v)
    return out


def two_way_labels(answer: Any, length: int, what: str = "partition") -> np.ndarray:
    """One scalar label per node with at most two distinct values, as a 0/1 array.

    Closes the reference's Max-Cut hole: with ``n`` distinct labels every edge counted as cut.
    One label (everything on one side) is a valid, if useless, partition.
    """
    values = flat_list(answer, length, what)
    for i, v in enumerate(values):
        if not isinstance(v, _SCALARS) or (isinstance(v, float) and not math.isfinite(v)):
            raise InvalidAnswer(f"{what}[{i}] must be a label (number or string), got {describe(v)}")
    distinct = list(dict.fromkeys(values))  # Python equality: 1, 1.0 and True are one label
    if len(distinct) > 2:
        raise InvalidAnswer(f"{what} must use at most 2 distinct labels, got {len(distinct)}")
    return np.array([v != distinct[0] for v in values], dtype=np.int64)


def permutation(answer: Any, n: int, what: str = "assignment") -> np.ndarray:
    """A permutation of ``0..n-1`` (ints, or floats with integral values) as an int array."""
    values = flat_list(answer, n, what)
    out = np.empty(n, dtype=np.int64)
    for i, v in enumerate(values):
        integral = isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
        if isinstance(v, bool) or not integral or not 0 <= v < n:
            raise InvalidAnswer(f"{what}[{i}] must be an integer in 0..{n - 1}, got {describe(v)}")
        out[i] = int(v)
    if len(set(out.tolist())) != n:
        raise InvalidAnswer(f"{what} must be a permutation of 0..{n - 1} (each value exactly once)")
    return out


def text(answer: Any, length: int, alphabet: str, what: str = "answer") -> str:
    """A string of exactly ``length`` characters drawn from ``alphabet``."""
    if not isinstance(answer, str):
        raise InvalidAnswer(f"{what} must be a string, got {describe(plain(answer))}")
    if len(answer) != length:
        raise InvalidAnswer(f"{what} must have length {length}, got {len(answer)}")
    if not set(answer) <= set(alphabet):
        raise InvalidAnswer(f"{what} may only contain the characters {alphabet!r}")
    return answer
