"""Noiseless parity: LPN without label noise (one of the paper's transfer tasks).

Same generator, signature and answer checks as ``lpn`` (the subclass only changes parameters), so the
shape hole of the reference's noiseless scorer (a 20 x 1 column vector scoring about 10) is closed by
the same code. The reference has no time limit for this task; we use a generous 2 CPU-seconds per
instance, the same as LPN, so a hanging solution cannot stall a run.
"""

from __future__ import annotations

from selftaught.tasks.lpn import LearningParityWithNoise

SEED_SOLUTION = '''\
import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    predictions = np.random.binomial(1, 0.5, len(test_samples))
    return predictions
'''


class NoiselessParity(LearningParityWithNoise):
    """Parity learning from exact labels: Gaussian elimination over GF(2) solves it."""

    name = "parity"
    description = """\
Learning parity (no noise). Write `algorithm(train_samples, train_parity, test_samples)`.
- train_samples: numpy int array of shape (100, 10), entries 0 or 1.
- train_parity: numpy int array of shape (100,): the exact parity (sum mod 2) of a hidden subset
  of the 10 bits of each sample (each bit is in the subset with probability 0.3).
- test_samples: numpy int array of shape (20, 10).
Return the predicted parities of the 20 test samples: a flat list or 1-D array of exactly 20
values, each 0 or 1 (any other shape or value scores 0 on that instance).
Score: accuracy against the true test parities, averaged over 20 instances. Each call may use at
most 2 seconds of CPU time; an error or timeout scores 0 on that instance only.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 2.0
    n_val = 20
    n_test = 20
    noise = 0.0
