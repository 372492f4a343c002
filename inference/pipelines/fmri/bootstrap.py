"""The paper's bootstrap test of a classifier's accuracy against chance.

The validation predictions are resampled with replacement ``n`` times; each resample gives an
accuracy. The ROI is significant when chance (0.5) lies in the lowest ``alpha`` tail of that
distribution, i.e. when the fraction of resampled accuracies at or below 0.5 (the p value) is
below ``alpha``.
"""

from __future__ import annotations

import numpy as np

CHANCE = 0.5
ALPHA = 0.05
N_RESAMPLES = 1000


def bootstrap_accuracies(correct: np.ndarray, n: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Accuracies of ``n`` resamples (with replacement) of the per-sample correctness vector."""
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        return np.full(n, CHANCE)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, correct.size, size=(n, correct.size))
    return correct[picks].mean(axis=1)


def bootstrap_p(correct: np.ndarray, n: int = N_RESAMPLES, seed: int = 0) -> float:
    """The fraction of bootstrap accuracies at or below chance (0.5)."""
    return float(np.mean(bootstrap_accuracies(correct, n, seed) <= CHANCE))


def is_significant(p: float, alpha: float = ALPHA) -> bool:
    return p < alpha
