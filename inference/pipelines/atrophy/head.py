"""The trainable head: per-region atrophy and the dementia / MCI / normal class from regional features.

A small torch model on the :data:`~.features.FEATURE_NAMES` vector: the inputs are standardised with the
training set's mean and SD (stored as buffers, so the bundle carries them), then either linear heads
(logistic regression, ``hidden=0``, the default for data sets of a few hundred subjects) or one hidden
layer. Output: one tensor (N, 10 + 3) = 10 atrophy logits (REGIONS order) then 3 class logits
(:data:`~.dataset.CLASS_NAMES` order).

Training: full batch, Adam with weight decay; the atrophy loss is a binary cross-entropy per region,
weighted by the region's positive rate in the training set (so rare atrophy is not ignored); the class
loss a cross-entropy weighted by inverse class frequency; unlabelled targets (-1) are masked out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

N_REGIONS = 10
N_CLASSES = 3


class AtrophyHead(nn.Module):
    mean: torch.Tensor  # buffers: the training set's feature mean and SD
    scale: torch.Tensor

    def __init__(
        self, n_features: int, hidden: int = 0, n_regions: int = N_REGIONS, n_classes: int = N_CLASSES
    ):
        super().__init__()
        self.n_regions = n_regions
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        width = hidden if hidden > 0 else n_features
        self.body: nn.Module = (
            nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.1))
            if hidden > 0
            else nn.Identity()
        )
        self.atrophy = nn.Linear(width, n_regions)
        self.classes = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body((x - self.mean) / self.scale)
        return torch.cat([self.atrophy(z), self.classes(z)], dim=1)

    def split(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return logits[:, : self.n_regions], logits[:, self.n_regions :]


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 0
    epochs: int = 600
    learning_rate: float = 0.03
    weight_decay: float = 1e-3
    seed: int = 0


def _standardise(head: AtrophyHead, x: np.ndarray) -> None:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    head.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    head.scale.copy_(torch.from_numpy(scale.astype(np.float32)))


def train_head(x: np.ndarray, atrophy: np.ndarray, labels: np.ndarray, config: TrainConfig) -> AtrophyHead:
    """Fit a head on features ``x`` (N, F), atrophy (N, 10) in {1, 0, -1} and labels (N,) in {0, 1, 2, -1}."""
    torch.manual_seed(config.seed)
    head = AtrophyHead(x.shape[1], config.hidden, atrophy.shape[1])
    _standardise(head, x)
    inputs = torch.from_numpy(x.astype(np.float32))
    region_targets = torch.from_numpy(np.clip(atrophy, 0, 1).astype(np.float32))
    region_known = torch.from_numpy((atrophy >= 0).astype(np.float32))
    positives = (region_targets * region_known).sum(dim=0)
    negatives = region_known.sum(dim=0) - positives
    pos_weight = torch.clamp(negatives / torch.clamp(positives, min=1.0), 0.1, 20.0)
    known_labels = labels >= 0
    counts = np.bincount(labels[known_labels], minlength=N_CLASSES).astype(np.float32)
    class_weight = torch.from_numpy(
        np.where(counts > 0, counts.sum() / np.maximum(counts, 1.0) / N_CLASSES, 0.0).astype(np.float32)
    )
    class_targets = torch.from_numpy(np.where(known_labels, labels, 0).astype(np.int64))
    class_known = torch.from_numpy(known_labels)
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    cross_entropy = nn.CrossEntropyLoss(weight=class_weight, reduction="sum")
    optimizer = torch.optim.Adam(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    head.train()
    for _ in range(config.epochs):
        optimizer.zero_grad()
        region_logits, class_logits = head.split(head(inputs))
        loss = (bce(region_logits, region_targets) * region_known).sum() / torch.clamp(
            region_known.sum(), min=1.0
        )
        if bool(class_known.any()):
            chosen = class_logits[class_known]
            target = class_targets[class_known]
            loss = loss + cross_entropy(chosen, target) / torch.clamp(class_weight[target].sum(), min=1e-6)
        loss.backward()
        optimizer.step()
    return head.eval()


def predict(head: nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Atrophy probabilities (N, 10) and class probabilities (N, 3) for features ``x``."""
    with torch.no_grad():
        parameter = next(head.parameters())
        logits = head(torch.from_numpy(x.astype(np.float32)).to(parameter.device)).float().cpu()
    n_regions = int(getattr(head, "n_regions", N_REGIONS))
    regions, classes = logits[:, :n_regions], logits[:, n_regions:]
    return torch.sigmoid(regions).numpy(), torch.softmax(classes, dim=1).numpy()
