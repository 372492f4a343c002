"""Temporal resampling of an ROI matrix to the length (and TR) the models were trained on.

The run's time axis (``TR`` from the header; the trained TR when the header has none) is resampled
linearly to the trained TR over the run's own duration. A run longer than the trained duration keeps
its first ``length`` samples; a shorter one is stretched to ``length`` samples. A run is *too short*
when it has fewer than ``MIN_VOLUMES`` volumes or lasts less than ``min_fraction`` of the trained
duration: its probabilities are still computed but reported as not interpretable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_VOLUMES = 20
MIN_FRACTION = 0.5


@dataclass(frozen=True)
class Timing:
    length: int  # trained number of samples
    tr_s: float  # trained repetition time

    @property
    def duration_s(self) -> float:
        return self.length * self.tr_s


def is_too_short(
    n_volumes: int, tr_s: float | None, timing: Timing, min_fraction: float = MIN_FRACTION
) -> bool:
    duration = n_volumes * (tr_s or timing.tr_s)
    return n_volumes < MIN_VOLUMES or duration < min_fraction * timing.duration_s


def _interpolate(matrix: np.ndarray, source_t: np.ndarray, target_t: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis -2 of (..., time, points)."""
    moved = np.moveaxis(matrix, -2, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.stack([np.interp(target_t, source_t, row) for row in flat])
    return np.moveaxis(out.reshape(*moved.shape[:-1], len(target_t)), -1, -2).astype(np.float32)


def resample(matrix: np.ndarray, tr_s: float | None, timing: Timing) -> np.ndarray:
    """(..., time, points) -> (..., timing.length, points)."""
    n = matrix.shape[-2]
    if n == 1:
        return np.repeat(matrix, timing.length, axis=-2).astype(np.float32)
    tr = tr_s or timing.tr_s
    source_t = np.arange(n) * tr
    on_grid = _interpolate(matrix, source_t, np.arange(0.0, source_t[-1] + 1e-9, timing.tr_s))
    m = on_grid.shape[-2]
    if m >= timing.length:
        return np.ascontiguousarray(on_grid[..., : timing.length, :])
    return _interpolate(on_grid, np.linspace(0.0, 1.0, m), np.linspace(0.0, 1.0, timing.length))
