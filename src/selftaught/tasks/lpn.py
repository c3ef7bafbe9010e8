"""Learning parity with noise (LPN): the paper's main task, with the reference's *scoring* parameters.

An instance hides a random parity (each of 10 bits in the secret with probability 0.3). The solution
sees 100 labelled training samples (labels flipped with probability 0.05) and must label 20 test
samples; the score is test accuracy against the noiseless labels. Guessing scores about 0.5.

Differences from the reference (see docs/stop.md): the predictions must be exactly one 0/1 value per
test sample in a flat list or 1-D array. The reference's LPN reshaped any answer to 1-D, and its
noiseless variant compared without reshaping, so a column vector (20 x 1) broadcast to 20 x 20 and
scored about 10. Here anything but shape (20,) is an ``InvalidAnswer`` and scores 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from selftaught.tasks.answers import binary_vector
from selftaught.tasks.base import Task

SEED_SOLUTION = '''\
import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    predictions = np.random.randint(0, 2, len(test_samples))
    return predictions
'''


class LearningParityWithNoise(Task):
    """Parity learning from noisy labels; the noiseless variant subclasses this with ``noise = 0``."""

    name = "lpn"
    description = """\
Learning parity with noise. Write `algorithm(train_samples, train_parity, test_samples)`.
- train_samples: numpy int array of shape (100, 10), entries 0 or 1.
- train_parity: numpy int array of shape (100,): the parity (sum mod 2) of a hidden subset of the
  10 bits of each sample (each bit is in the subset with probability 0.3), flipped with
  probability 0.05 (label noise).
- test_samples: numpy int array of shape (20, 10).
Return the predicted parities of the 20 test samples: a flat list or 1-D array of exactly 20
values, each 0 or 1 (any other shape or value scores 0 on that instance).
Score: accuracy against the true, noiseless test parities, averaged over 20 instances. Each call
may use at most 2 seconds of CPU time; an error or timeout scores 0 on that instance only.
"""
    seed_solution = SEED_SOLUTION
    time_limit = 2.0
    n_val = 20
    n_test = 50

    n_bits: ClassVar[int] = 10
    p_secret: ClassVar[float] = 0.3
    n_train: ClassVar[int] = 100
    n_test_samples: ClassVar[int] = 20
    noise: ClassVar[float] = 0.05

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a secret, samples, clean parities and the training-label noise."""
        secret = (rng.random(self.n_bits) < self.p_secret).astype(np.int64)
        samples = rng.integers(0, 2, size=(self.n_train + self.n_test_samples, self.n_bits), dtype=np.int64)
        parity = samples @ secret % 2
        flips = (rng.random(self.n_train) < self.noise).astype(np.int64)
        return {
            "secret": secret,
            "train_samples": samples[: self.n_train],
            "train_parity": (parity[: self.n_train] + flips) % 2,
            "test_samples": samples[self.n_train :],
            "test_parity": parity[self.n_train :],
        }

    def arguments(self, instance: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (instance["train_samples"], instance["train_parity"], instance["test_samples"])

    def score(self, instance: dict[str, Any], answer: Any) -> float:
        """Test accuracy; the answer must be exactly one 0/1 per test sample (shape (20,))."""
        truth = instance["test_parity"]
        predictions = binary_vector(answer, len(truth))
        return float(np.mean(predictions == truth))
