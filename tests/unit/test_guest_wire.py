"""The host/guest channel carries large instances and arrays intact."""

from __future__ import annotations

import numpy as np

from selftaught.sandbox import Limits, Verdict
from selftaught.sandbox.local import LocalExecutor


def test_large_matrix_arrives_whole_and_as_an_array():
    matrix = np.arange(200 * 200).reshape(200, 200) % 7  # ~100 KB of JSON: several pipe reads
    with LocalExecutor().spawn(Limits(wall_seconds=20)) as worker:
        assert worker.load("def algorithm(m):\n    return [list(m.shape), int(m.sum())]\n").ok
        res = worker.call("algorithm", [matrix])
    assert res.verdict is Verdict.OK
    assert res.value == [[200, 200], int(matrix.sum())]


def test_numpy_results_come_back_as_plain_data_and_prints_are_captured():
    with LocalExecutor().spawn(Limits(wall_seconds=20)) as worker:
        worker.load("import numpy as np\ndef algorithm():\n    print('hello')\n    return np.array([1, 0, 1])\n")
        res = worker.call("algorithm", [])
    assert res.value == [1, 0, 1] and res.output == "hello\n"
