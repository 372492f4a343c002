"""Train the RDS bundle's two networks on CPU with a fixed seed.

1. UNet on the images that have a lung mask (Dice + cross-entropy, Adam).
2. Classifier inputs from the trained UNet's own masks (median filter, rotation fallback, spine band
   removed), as in the paper's final model (step 3: retrain the classifier on the segmentation output).
3. EfficientNet on the labelled images (binary cross-entropy, Adam, random horizontal flips).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dicom_node.errors import InputError
from inference.pipelines.rds.dataset import Sample
from inference.pipelines.rds.model import RdsModel, RdsSettings
from inference.pipelines.rds.networks import classifier_config, instantiate, unet_config


@dataclass(frozen=True)
class TrainOptions:
    size: int = 128
    unet_channels: tuple[int, ...] = (8, 16, 32, 64, 64)
    variant: str = "b0"
    seg_epochs: int = 20
    cls_epochs: int = 20
    batch_size: int = 16
    seg_lr: float = 5e-3
    cls_lr: float = 2e-3
    seed: int = 0
    max_steps: int | None = None  # per network; for smoke tests
    settings: RdsSettings = field(default_factory=RdsSettings)


@dataclass
class Trained:
    unet: torch.nn.Module
    classifier: torch.nn.Module
    configs: dict[str, Any]
    settings: RdsSettings
    info: dict[str, Any]


def _batches(count: int, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    return [order[i : i + batch] for i in range(0, count, batch)]


def _fit(
    network: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int,
    options: TrainOptions,
    lr: float,
    report: Callable[[str], None],
    name: str,
    flip: bool = False,
) -> float:
    generator = torch.Generator().manual_seed(options.seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, epochs))
    network.train()
    steps, last = 0, float("nan")
    for epoch in range(epochs):
        total = 0.0
        for index in _batches(len(inputs), options.batch_size, generator):
            x, y = inputs[index], targets[index]
            if flip and torch.rand(1, generator=generator).item() < 0.5:
                x = torch.flip(x, dims=(3,))
            optimiser.zero_grad()
            loss = loss_fn(network(x), y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
            steps += 1
            if options.max_steps is not None and steps >= options.max_steps:
                recalibrate_batch_norm(network, inputs, options.batch_size)
                return float(loss.detach())
        scheduler.step()
        last = total / len(inputs)
        report(f"{name} epoch {epoch + 1}/{epochs}: loss {last:.4f}")
    recalibrate_batch_norm(network, inputs, options.batch_size)
    return last


def recalibrate_batch_norm(network: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> None:
    """Recompute BatchNorm running statistics over ``inputs`` (exact averages), then eval mode.

    EfficientNet's BatchNorm momentum is 0.01: after a short training its running statistics are
    still near their initial values and the network in eval mode would answer a constant.
    """
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        saved = [m.momentum for m in norms]
        for module in norms:
            module.reset_running_stats()
            module.momentum = None  # cumulative moving average
        network.train()
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                network(inputs[start : start + batch_size])
        for module, momentum in zip(norms, saved, strict=True):
            module.momentum = momentum
    network.eval()


def train(
    samples: list[Sample],
    options: TrainOptions,
    report: Callable[[str], None],
    lungs: tuple[torch.nn.Module, dict[str, Any]] | None = None,
) -> Trained:
    """Train both networks on ``samples`` (at ``options.size``) and return them with their configs.

    ``lungs``: a trained UNet and its config entry (e.g. the shipped real-data one) to keep instead of
    training one; then only the classifier is trained, on the masks that UNet predicts.
    """
    from monai.losses import DiceCELoss
    from monai.utils import set_determinism

    set_determinism(seed=options.seed)
    torch.manual_seed(options.seed)
    segmented = [s for s in samples if s.labels is not None]
    labelled = [s for s in samples if s.rds is not None]
    if not segmented and lungs is None:
        raise InputError("no image has a lung mask: the UNet cannot be trained")
    if len({s.rds for s in labelled}) < 2:
        raise InputError("labels.csv needs images of both classes (RDS and normal)")
    configs = {
        "network_def": unet_config(options.unet_channels) if lungs is None else lungs[1],
        "classifier_def": classifier_config(options.variant, options.size),
    }
    if lungs is None:
        unet = instantiate(configs["network_def"])
        images = torch.from_numpy(np.stack([s.image for s in segmented]))[:, None]
        labels = [s.labels for s in segmented if s.labels is not None]
        masks = torch.from_numpy(np.stack(labels).astype(np.int64))
        seg_loss = _fit(
            unet,
            images,
            masks[:, None],
            DiceCELoss(to_onehot_y=True, softmax=True),
            options.seg_epochs,
            options,
            options.seg_lr,
            report,
            "unet",
        )
    else:
        unet, seg_loss = lungs[0].eval(), float("nan")
    settings = RdsSettings(
        working_size=options.size,
        median_kernel=options.settings.median_kernel,
        rotate=options.settings.rotate,
        rotation_trigger=options.settings.rotation_trigger,
        band_fraction=options.settings.band_fraction,
        threshold=options.settings.threshold,
        variant=options.variant,
    )
    classifier = instantiate(configs["classifier_def"])
    helper = RdsModel(unet, classifier, settings)
    inputs = torch.from_numpy(
        np.stack([helper.classifier_input(s.image, helper.segment(s.image)) for s in labelled])
    )[:, None]
    targets = torch.tensor([[float(bool(s.rds))] for s in labelled])
    cls_loss = _fit(
        classifier,
        inputs,
        targets,
        torch.nn.BCEWithLogitsLoss(),
        options.cls_epochs,
        options,
        options.cls_lr,
        report,
        f"efficientnet-{options.variant}",
        flip=True,
    )
    info = {
        "seed": options.seed,
        "images_with_masks": len(segmented),
        "images_with_labels": len(labelled),
        "seg_epochs": options.seg_epochs,
        "cls_epochs": options.cls_epochs,
        "batch_size": options.batch_size,
        "final_seg_loss": round(seg_loss, 4) if lungs is None else "not trained (given lung UNet)",
        "final_cls_loss": round(cls_loss, 4),
        "torch_threads": torch.get_num_threads(),
    }
    return Trained(unet, classifier, configs, settings, info)
