"""Weighted Max-Cut on dense random graphs (a transfer task of the paper).

Graphs have 50..200 nodes, each pair joined with probability 0.4 by an edge of integer weight 1..10.
The solution returns one label per node; the score is the fraction of the total edge weight that
crosses the partition (a cut / total weight), so a random partition scores about 0.5, like random
guessing on LPN, and the best cuts of these graphs reach roughly 0.6-0.75.

Differences from the reference (see docs/stop.md): its scorer never checked for two labels (n
distinct labels "cut" every edge) and averaged raw weights (hundreds to thousands). Here more than
two distinct labels is an ``InvalidAnswer``, and the score is normalised per graph to [0, 1] before
averaging, so big graphs do not dominate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks.answers import two_way_labels
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
def algorithm(adjacency_matrix):
    """Greedy: repeatedly place the (node, side) pair that cuts the most weight to placed nodes."""
    n = len(adjacency_matrix)
    side = [-1] * n
    remaining = set(range(n))
    while remaining:
        best_gain, best_node, best_side = -1, None, None
        for node in remaining:
            for s in (0, 1):
                gain = 0
                for other, weight in enumerate(adjacency_matrix[node]):
                    if side[other] == 1 - s:
                        gain += weight
                if gain > best_gain:
                    best_gain, best_node, best_side = gain, node, s
        side[best_node] = best_side
        remaining.remove(best_node)
    return side
'''


class MaxCut(Task):
    """Two-way partition maximising the weight of the edges it cuts."""

    name = "maxcut"
    description = """\
Weighted Max-Cut. Write `algorithm(adjacency_matrix)` that splits the nodes into two groups.
- adjacency_matrix: symmetric numpy float array of shape (n, n), n between 50 and 200; entry [i, j]
  is the weight (an integer 1..10) of the edge between i and j, or 0 if there is none (each pair has
  an edge with probability 0.4). The diagonal is 0.
- Return one label per node (a list or 1-D array of length n) using at most two distinct values,
  e.g. 0 and 1. More than two labels, a wrong length or an error scores 0 on that graph.
Score: the weight of the edges whose endpoints have different labels divided by the total edge
weight, averaged over 100 graphs (a random split scores about 0.5). Each call may use at most 0.1
seconds of CPU time; exceeding it scores 0 on that graph.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 0.1
    n_val = 100
    n_test = 100

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        n = int(rng.integers(50, 201))
        upper = np.triu(rng.random((n, n)) < 0.4, k=1)
        weights = np.where(upper, rng.integers(1, 11, size=(n, n)), 0).astype(np.float64)
        return {"adjacency": weights + weights.T}

    def arguments(self, instance: dict[str, Any]) -> tuple[np.ndarray]:
        return (instance["adjacency"],)

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        """Cut weight / total weight for a partition with at most two labels."""
        adjacency = instance["adjacency"]
        side = two_way_labels(answer, len(adjacency)).astype(bool)
        total = adjacency.sum() / 2
        if total == 0:  # no edges: every partition is optimal
            return 1.0
        cut = adjacency[side][:, ~side].sum()
        return float(min(1.0, cut / total))
