"""Train the three-headed grader on labelled crops and write it as a MONAI bundle.

Adam, cross-entropy per sign (crops not graded for a sign are ignored for that head), random flips
and quarter turns. The bundle records what it was trained on; weights trained on the synthetic
generator are marked as DEMONSTRATION weights in every name and description.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inference.bundle import BundleCard, write_bundle
from inference.pipelines.dermatitis.dataset import UNKNOWN
from inference.pipelines.dermatitis.model import DermatitisNet
from inference.pipelines.dermatitis.signs import SIGN_KEYS, SIGNS

VERSION = "0.1.0"
DEMONSTRATION_NOTE = (
    "DEMONSTRATION weights, trained on synthetic skin textures (dicom-node's generator), not on "
    "photographs of patients: the grades they give on real skin mean nothing. Not for clinical use."
)


@dataclass(frozen=True)
class TrainConfig:
    depth: int = 18
    width: float = 0.25
    patch_size: int = 64
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    tiles_short_side: int = 6
    min_coverage: float = 0.5
    demonstration: bool = False
    data_description: str = "user data"


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1], the network's input."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(-1)
    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(-2)
    turns = int(torch.randint(0, 4, (1,), generator=generator).item())
    return torch.rot90(batch, turns, dims=(-2, -1)) if turns else batch


def loss_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over signs of the cross-entropy of the graded crops (UNKNOWN labels ignored)."""
    total = logits.new_zeros(())
    for index in range(len(SIGNS)):
        target = labels[:, index]
        if bool((target != UNKNOWN).any()):
            total = total + nn.functional.cross_entropy(logits[:, index], target, ignore_index=UNKNOWN)
    return total


def predict(network: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities (N, 3, 4) for crops (N, H, W, 3) uint8."""
    network.eval()
    outputs = []
    device = next(network.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = to_tensor(images[start : start + batch_size]).to(device)
            outputs.append(torch.softmax(network(batch), dim=-1).cpu())
    if not outputs:
        return np.zeros((0, len(SIGNS), 4), dtype=np.float32)
    return torch.cat(outputs).numpy()


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    """Per sign: share of graded crops whose most probable severity is the label (None: no crop)."""
    result: dict[str, float | None] = {}
    predicted = probabilities.argmax(axis=-1)
    for index, key in enumerate(SIGN_KEYS):
        graded = labels[:, index] != UNKNOWN
        result[key] = (
            float((predicted[graded, index] == labels[graded, index]).mean()) if graded.any() else None
        )
    return result


def train_network(
    images: np.ndarray, labels: np.ndarray, config: TrainConfig, progress: Callable[[str], None]
) -> DermatitisNet:
    """Train a fresh network on crops (N, H, W, 3) uint8 with labels (N, 3)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    network = DermatitisNet(depth=config.depth, width=config.width)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, config.epochs))
    inputs, targets = to_tensor(images), torch.from_numpy(labels)
    for epoch in range(config.epochs):
        network.train()
        started, total, batches = time.monotonic(), 0.0, 0
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), config.batch_size):
            chosen = order[start : start + config.batch_size]
            if len(chosen) < 2:
                continue  # batch norm needs two samples
            optimiser.zero_grad()
            loss = loss_of(network(_augment(inputs[chosen], generator)), targets[chosen])
            loss.backward()
            optimiser.step()
            total, batches = total + loss.item(), batches + 1
        schedule.step()
        progress(
            f"epoch {epoch + 1}/{config.epochs}: loss {total / max(batches, 1):.3f} "
            f"({time.monotonic() - started:.1f} s)"
        )
    return network.eval()


def write_dermatitis_bundle(
    out: Path,
    network: nn.Module,
    config: TrainConfig,
    counts: dict[str, int],
    test_accuracy: dict[str, float | None],
    data_licence: str | None = None,
) -> Path:
    """The grader as a bundle (half-precision weights), written by :func:`inference.bundle.write_bundle`."""
    demo = config.demonstration
    patch = [config.patch_size, config.patch_size]
    card = BundleCard(
        name="dermatitis severity grader" + (" - DEMONSTRATION weights" if demo else ""),
        version=VERSION + ("-demo" if demo else ""),
        task="severity 0-3 of erythema, excoriation and lichenification on skin photograph crops",
        description=(DEMONSTRATION_NOTE + " " if demo else "")
        + f"ResNet-{config.depth} (width {config.width}) with three 4-class heads, trained by "
        f"`dicom-node train dermatitis` on {config.data_description}.",
        inputs={
            "image": {
                "type": "image",
                "format": "RGB",
                "num_channels": 3,
                "spatial_shape": patch,
                "dtype": "float32",
                "value_range": [0, 1],
                "is_patch_data": True,
                "channel_def": {"0": "R", "1": "G", "2": "B"},
            }
        },
        outputs={
            "pred": {
                "type": "logits",
                "format": "(N, 3 signs, 4 severities)",
                "num_channels": len(SIGNS),
                "spatial_shape": [4],
                "dtype": "float32",
                "value_range": [],
                "channel_def": {str(i): key for i, key in enumerate(SIGN_KEYS)},
            }
        },
        licence="Apache-2.0: weights trained by `dicom-node train dermatitis`.",
        data_source=config.data_description,
        data_licence=data_licence,
        copyright="dicom-node contributors",
        blocks={
            "license": "Apache-2.0",
            "dermatitis": {
                "demonstration": demo,
                "architecture": f"ResNet-{config.depth} width {config.width}",
                "patch_size": config.patch_size,
                "tiles_short_side": config.tiles_short_side,
                "min_coverage": config.min_coverage,
                "split_seed": config.seed,
                "training": asdict(config),
                "images": counts,
                "test_accuracy": test_accuracy,
            },
        },
        notes=[DEMONSTRATION_NOTE] if demo else [],
    )
    inference = {
        "depth": config.depth,
        "width": config.width,
        "network_def": {
            "_target_": "inference.pipelines.dermatitis.model.DermatitisNet",
            "depth": "@depth",
            "width": "@width",
        },
    }
    state = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    return write_bundle(out, card, configs={"inference": inference}, weights=state)
