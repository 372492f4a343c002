"""The ensemble: per-ROI probabilities averaged with weights = each ROI's validation accuracy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def ensemble_probability(probabilities: Mapping[int, float], weights: Mapping[int, float]) -> float | None:
    """Weighted mean of ``probabilities`` (ROI -> p) by ``weights`` (ROI -> accuracy); None if empty."""
    rois = [r for r in probabilities if weights.get(r, 0.0) > 0]
    if not rois:
        return None
    w = np.array([weights[r] for r in rois], float)
    p = np.array([probabilities[r] for r in rois], float)
    return float(np.sum(w * p) / np.sum(w))
