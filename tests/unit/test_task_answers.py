"""The shared answer-validation helpers: JSON-like normalisation, shapes, labels, permutations."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.tasks.answers import (
    binary_vector,
    clamp01,
    describe,
    number,
    permutation,
    plain,
    text,
    two_way_labels,
)
from selftaught.tasks.base import InvalidAnswer


def test_plain_mimics_the_wire_format() -> None:
    value = plain((np.arange(3), np.int64(4), [np.float32(0.5)], (1, 2)))
    assert value == [[0, 1, 2], 4, [0.5], [1, 2]]
    assert type(value[1]) is int and type(value[2][0]) is float
    with pytest.raises(InvalidAnswer, match="nested more than"):
        plain([[[[[[[[[[[0]]]]]]]]]]])


def test_describe_is_short_even_for_hostile_values() -> None:
    assert describe(10**100_000) == "int with 332193 bits"  # repr would raise ValueError
    assert len(describe("x" * 10_000)) < 60
    assert describe([[0], [1]]) == "list of length 2 of list of length 1 of int 0"


@pytest.mark.parametrize(("value", "expected"), [(0.5, 0.5), (-1, 0.0), (7, 1.0), (float("nan"), 0.0),
                                                 (float("inf"), 0.0)])
def test_clamp01(value: float, expected: float) -> None:
    assert clamp01(value) == expected


def test_number_rejects_bools_nan_and_overflow() -> None:
    assert number(np.int64(3)) == 3.0
    for bad in (True, "3", None, float("nan"), 10**400, [3]):
        with pytest.raises(InvalidAnswer):
            number(bad)


def test_binary_vector_accepts_int_bool_float_and_rejects_other_shapes() -> None:
    assert binary_vector([0, True, 1.0, False], 4).tolist() == [0, 1, 1, 0]
    with pytest.raises(InvalidAnswer, match=r"must be flat \(1-D, shape \(4,\)\)"):  # the 1000 % hack
        binary_vector(np.array([[0], [1], [1], [0]]), 4)
    for bad in ([[0], [1], [0], [1]], [0, 1, 0], [0, 1, 0, 0.5], np.zeros((4, 1)), "0101"):
        with pytest.raises(InvalidAnswer):
            binary_vector(bad, 4)


def test_two_way_labels_maps_any_two_labels_to_sides() -> None:
    assert two_way_labels(["a", "b", "a"], 3).tolist() == [0, 1, 0]
    assert two_way_labels([1, True, 1.0], 3).tolist() == [0, 0, 0]  # one label under Python equality
    with pytest.raises(InvalidAnswer, match="at most 2 distinct labels, got 3"):
        two_way_labels([0, 1, 2], 3)
    with pytest.raises(InvalidAnswer):
        two_way_labels([0, None, 1], 3)


def test_permutation_and_text() -> None:
    assert permutation(np.array([2, 0, 1]), 3).tolist() == [2, 0, 1]
    for bad in ([0, 0, 1], [0, 1, 3], [0, 1, 2.5], [0, 1, 10**400], [0, 1, float("inf")]):
        with pytest.raises(InvalidAnswer):
            permutation(bad, 3)
    assert text("ABBA", 4, "AB") == "ABBA"
    for bad in ("ABC", "ABBC", ["A"] * 4, None):
        with pytest.raises(InvalidAnswer):
            text(bad, 4, "AB")
