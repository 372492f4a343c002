"""Time as the models were trained: a run is cropped to the trained length, or refused; never resampled.

The LSTMs learn the temporal pattern of the signal at the trained repetition time (TR). Stretching or
resampling a run would shift its frequency content, the very thing they learned, so a run is used
only when its TR matches the trained TR (within :data:`TR_TOLERANCE`, relative) and it has at least
the trained number of volumes; its first ``length`` volumes are used. Any other run is refused with
the reason, and the report says so. A run without a TR in its header is taken at the trained TR and
the report says that it was assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TR_TOLERANCE = 0.05


@dataclass(frozen=True)
class Timing:
    length: int  # trained number of samples
    tr_s: float  # trained repetition time

    @property
    def duration_s(self) -> float:
        return self.length * self.tr_s


@dataclass(frozen=True)
class TimeCheck:
    n_volumes: int  # volumes in the run
    used: int  # volumes used (the first ``used``); 0 when refused
    tr_s: float | None  # the run's TR from its header
    refused: str | None  # why the run cannot be used, None when it can

    def describe(self, timing: Timing) -> str:
        """One sentence for the report."""
        if self.refused:
            return f"Not assessed: {self.refused}"
        tr = f"TR {self.tr_s:g} s" if self.tr_s else f"TR not in the header, {timing.tr_s:g} s assumed"
        cropped = "" if self.used == self.n_volumes else " (cropped to the trained length)"
        return f"Volumes used: 1-{self.used} of {self.n_volumes}{cropped}, {tr}; time is never resampled"


def check(n_volumes: int, tr_s: float | None, timing: Timing) -> TimeCheck:
    """Whether a run of ``n_volumes`` at ``tr_s`` can be given to models trained on ``timing``."""
    if tr_s and abs(tr_s - timing.tr_s) > TR_TOLERANCE * timing.tr_s:
        reason = (
            f"the run's TR ({tr_s:g} s) differs from the model's ({timing.tr_s:g} s); resampling in time "
            "would change the signal the models learned"
        )
        return TimeCheck(n_volumes, 0, tr_s, reason)
    if n_volumes < timing.length:
        reason = (
            f"the run has {n_volumes} volumes, the model needs {timing.length} "
            f"({timing.duration_s:g} s at TR {timing.tr_s:g} s); a shorter run is never stretched"
        )
        return TimeCheck(n_volumes, 0, tr_s, reason)
    return TimeCheck(n_volumes, timing.length, tr_s, None)


def crop(matrix: np.ndarray, timing: Timing) -> np.ndarray:
    """(..., time, points) -> (..., timing.length, points): the first ``length`` samples, unchanged."""
    if matrix.shape[-2] < timing.length:
        raise ValueError(f"{matrix.shape[-2]} samples, {timing.length} needed")
    return np.ascontiguousarray(matrix[..., : timing.length, :], dtype=np.float32)
