"""The paper's protocol: per-ROI models, 7:3 subject split, BCE, Adam, 30 epochs, bootstrap test, ensemble.

:func:`run_protocol` splits the subjects once (stratified, seeded, shared by every ROI) into a
training part (70 %) and a test part (30 %). Per ROI, a model trained on the whole training part is
scored on the test part: loss, accuracy and the bootstrap p value (the paper's Table 1). The ensemble
ROIs are chosen *inside* the training part (nested): it is split again 7:3, a model per ROI is
trained on the inner 70 % and bootstrap-tested on the inner 30 %; the ROIs that pass are the
ensemble, weighted by their inner accuracy, and the ensemble's accuracy is measured on the test part,
which took no part in choosing it. (The paper chose its ROIs on the same split it reported, which
makes its ensemble look better than it is.)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch

from inference.pipelines.fmri.bootstrap import ALPHA, N_RESAMPLES, bootstrap_p, is_significant
from inference.pipelines.fmri.ensemble import ensemble_probability
from inference.pipelines.fmri.model import HIDDEN, RoiLstm

log = logging.getLogger(__name__)

EPOCHS = 30
TRAIN_FRACTION = 0.7
LEARNING_RATE = 5e-3
BATCH = 16  # Settings.batch None: one batch of all training subjects


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


@dataclass(frozen=True)
class Settings:
    epochs: int = EPOCHS
    n_resamples: int = N_RESAMPLES
    alpha: float = ALPHA
    seed: int = 0
    hidden: int = HIDDEN
    batch: int | None = BATCH


@dataclass(frozen=True)
class ProtocolResult:
    rois: list[int]
    models: dict[int, RoiLstm]  # trained on the whole training part
    test: dict[int, RoiStats]  # per ROI on the test part (the paper's Table 1)
    inner: dict[int, RoiStats]  # per ROI on the inner validation part (chooses the ensemble)
    ensemble: list[int]  # ROIs that pass the bootstrap test inside the training part
    ensemble_stats: RoiStats | None  # the ensemble on the test part (roi 0), None when empty
    n_train: int
    n_test: int


CHUNK = 25  # ROIs trained together (smaller chunks stay in cache; ~0.5 GB for 25 ROIs x 122 x 176)


def _fit_and_score(
    features: np.ndarray, labels: np.ndarray, fit: np.ndarray, check: np.ndarray, rois: list[int], s: Settings
) -> tuple[list[RoiLstm], list[RoiStats], list[np.ndarray]]:
    """Train the ROIs' models on subjects ``fit`` (together, :mod:`batched`) and score them on ``check``."""
    from inference.pipelines.fmri.batched import train_stack

    models: list[RoiLstm] = []
    for start in range(0, len(rois), CHUNK):
        part = features[fit, start : start + CHUNK]
        models += train_stack(part, labels[fit], s.epochs, s.seed + start, s.hidden, s.batch, LEARNING_RATE)
        log.info("fmri.trained rois=%d of %d subjects=%d", min(start + CHUNK, len(rois)), len(rois), len(fit))
    probabilities = [predict(m, features[check, i]) for i, m in enumerate(models)]
    stats = [
        score(r, p, labels[check], s.n_resamples, s.alpha, s.seed)
        for r, p in zip(rois, probabilities, strict=True)
    ]
    return models, stats, probabilities


def run_protocol(
    features: np.ndarray, labels: np.ndarray, rois: list[int], settings: Settings | None = None
) -> ProtocolResult:
    """The protocol on ``features`` (subjects, rois, time, points) and 0/1 ``labels``."""
    s = settings or Settings()
    train, test = split(labels, seed=s.seed)
    inner_fit, inner_check = (train[part] for part in split(labels[train], seed=s.seed + 1))
    _, inner_list, _ = _fit_and_score(features, labels, inner_fit, inner_check, rois, s)
    model_list, test_list, probability_list = _fit_and_score(features, labels, train, test, rois, s)
    inner_stats = dict(zip(rois, inner_list, strict=True))
    models = dict(zip(rois, model_list, strict=True))
    test_stats = dict(zip(rois, test_list, strict=True))
    test_probabilities = dict(zip(rois, probability_list, strict=True))
    ensemble = [r for r in rois if inner_stats[r].significant]
    ensemble_stats = None
    if ensemble:
        weights = {r: inner_stats[r].accuracy for r in ensemble}
        overall = np.array(
            [
                ensemble_probability({r: float(test_probabilities[r][k]) for r in ensemble}, weights) or 0.5
                for k in range(len(test))
            ]
        )
        ensemble_stats = score(0, overall, labels[test], s.n_resamples, s.alpha, s.seed)
    return ProtocolResult(
        list(rois), models, test_stats, inner_stats, ensemble, ensemble_stats, len(train), len(test)
    )
