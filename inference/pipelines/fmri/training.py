"""Training the 264 per-ROI models as the paper: 7:3 split, BCE, Adam, 30 epochs, bootstrap test.

One stratified subject split (seeded) is shared by every ROI, so the validation accuracies of the
ROIs are comparable and the ensemble is validated on subjects no model saw.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch

from inference.pipelines.fmri.bootstrap import ALPHA, N_RESAMPLES, bootstrap_p, is_significant
from inference.pipelines.fmri.model import RoiLstm

log = logging.getLogger(__name__)

EPOCHS = 30
TRAIN_FRACTION = 0.7
LEARNING_RATE = 5e-3
BATCH = 16


@dataclass(frozen=True)
class RoiStats:
    roi: int
    loss: float  # validation binary cross-entropy
    accuracy: float  # validation accuracy
    p: float  # bootstrap p value
    significant: bool

    def to_json(self) -> dict[str, float | int | bool]:
        return asdict(self)


def split(
    labels: np.ndarray, fraction: float = TRAIN_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) subject indices: ``fraction`` of each class for training."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    valid: list[int] = []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        cut = max(1, min(len(members) - 1, round(len(members) * fraction))) if len(members) > 1 else 1
        train += members[:cut].tolist()
        valid += members[cut:].tolist()
    return np.array(sorted(train)), np.array(sorted(valid))


def train_roi(x: np.ndarray, y: np.ndarray, epochs: int = EPOCHS, seed: int = 0) -> RoiLstm:
    """Fit one RoiLstm on (N, time, points) matrices and 0/1 labels."""
    torch.manual_seed(seed)
    model = RoiLstm(x.shape[-1])
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    inputs, targets = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy(model(inputs[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def predict(model: RoiLstm, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x.astype(np.float32))).numpy().astype(float)


def score(
    roi: int,
    probabilities: np.ndarray,
    y: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
    seed: int = 0,
) -> RoiStats:
    """Validation loss, accuracy and bootstrap test of one ROI's predictions."""
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("nan")
    correct = (probabilities >= 0.5) == (y >= 0.5)
    p_value = bootstrap_p(correct, n_resamples, seed + roi)
    accuracy = float(correct.mean()) if len(y) else 0.0
    return RoiStats(roi, round(loss, 4), round(accuracy, 4), p_value, is_significant(p_value, alpha))


def train_all(
    features: np.ndarray,
    labels: np.ndarray,
    rois: list[int],
    epochs: int = EPOCHS,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
    seed: int = 0,
) -> tuple[dict[int, RoiLstm], dict[int, RoiStats], np.ndarray]:
    """Train one model per ROI on ``features`` (subjects, rois, time, points); score on the split.

    Returns the models, their validation statistics and the validation subject indices.
    """
    train, valid = split(labels, seed=seed)
    models: dict[int, RoiLstm] = {}
    stats: dict[int, RoiStats] = {}
    for i, roi in enumerate(rois):
        model = train_roi(features[train, i], labels[train], epochs, seed + roi)
        models[roi] = model
        stats[roi] = score(roi, predict(model, features[valid, i]), labels[valid], n_resamples, alpha, seed)
        log.debug("fmri.roi_trained roi=%d accuracy=%.3f p=%.3f", roi, stats[roi].accuracy, stats[roi].p)
    return models, stats, valid
