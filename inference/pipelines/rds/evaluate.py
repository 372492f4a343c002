"""`dicom-node evaluate rds DATA --bundle BUNDLE [--bundle B2 ...]`: the paper's two tables on your data.

When DATA is the real ``cxr_lungs`` folder (``peds_kermany_v7/`` and ``adult_covid_v7/``), Table 1 is
computed on its patient-level test split instead (:mod:`inference.pipelines.rds.evaluate_real`):
mIoU per post-processing step next to the paper's, Dice per lung with confidence intervals, films
with swapped sides. Without ``--bundle`` the shipped bundle is evaluated.

Table 1 (first bundle's UNet, images with masks): mIoU without post-processing, with the median filter,
with the median filter and the rotation fallback. mIoU is the mean over images of the mean IoU of the
right and the left lung (a lung absent from both masks is left out of that image's mean).
Table 2 (images with labels): accuracy of each bundle's EfficientNet, on the masks its UNet predicts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from inference.pipelines.rds.dataset import Sample
    from inference.pipelines.rds.model import RdsModel

HELP = "print the rds paper's tables (lung mIoU per post-processing, RDS accuracy per EfficientNet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="folder with images/, masks/ and labels.csv")
    parser.add_argument(
        "--bundle",
        type=Path,
        action="append",
        default=None,
        help="bundle folder (repeat to compare variants)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--part", choices=("test", "val"), default="test", help="cxr_lungs only: the split part to score"
    )
    parser.add_argument("--json", type=Path, default=None, help="cxr_lungs only: also write the figures here")


def mean_iou(predicted: np.ndarray, truth: np.ndarray) -> float | None:
    scores = []
    from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG  # lazy: the CLI parser stays light

    for lung in (RIGHT_LUNG, LEFT_LUNG):
        p, t = predicted == lung, truth == lung
        union = np.count_nonzero(p | t)
        if union:
            scores.append(np.count_nonzero(p & t) / union)
    return float(np.mean(scores)) if scores else None


def segmentation_table(model: RdsModel, samples: list[Sample]) -> tuple[list[float], int]:
    """mIoU without post-processing / median filter / median filter + rotation, and images used."""
    columns: list[list[float]] = [[], [], []]
    for sample in samples:
        if sample.labels is None:
            continue
        outcome = model.segment(sample.image, rotate=True)
        for column, predicted in zip(columns, (outcome.raw, outcome.median, outcome.labels), strict=True):
            score = mean_iou(predicted, sample.labels)
            if score is not None:
                column.append(score)
    used = len(columns[0])
    return [float(np.mean(c)) if c else float("nan") for c in columns], used


def accuracy(model: RdsModel, samples: list[Sample]) -> tuple[float, int]:
    labelled = [s for s in samples if s.rds is not None]
    correct = 0
    for sample in labelled:
        probability = model.probability(model.classifier_input(sample.image, model.segment(sample.image)))
        correct += int((probability >= model.settings.threshold) == sample.rds)
    return (correct / len(labelled) if labelled else float("nan")), len(labelled)


def run(args: argparse.Namespace) -> int:
    import torch

    from inference.pipelines.rds.bundle_io import load_model
    from inference.pipelines.rds.dataset import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    bundles = args.bundle or [None]
    models = [load_model(path, "cpu") for path in bundles]
    first, _ = models[0]
    from inference.pipelines.rds.cxr_lungs import ADULT, PEDS  # lazy: the CLI parser stays light

    if (args.data / PEDS).is_dir() or (args.data / ADULT).is_dir():
        return run_real(first, args)
    samples = load_dataset(args.data, first.settings.working_size)
    scores, used = segmentation_table(first, samples)
    kernel = first.settings.median_kernel
    print(f"Table 1. Lung segmentation (UNet, {used} images with masks, median kernel {kernel})")
    print(f"{'Network':<10}{'Median filter':<16}{'Rotation':<12}{'mIoU':>6}")
    for (median, rotation), score in zip((("x", "x"), ("o", "x"), ("o", "o")), scores, strict=True):
        print(f"{'UNet':<10}{median:<16}{rotation:<12}{score:>6.3f}")
    print()
    print("Table 2. RDS classification on the segmented lungs")
    print(f"{'Network':<26}{'Images':>8}{'Accuracy':>10}")
    for model, meta in models:
        if model.settings.working_size != first.settings.working_size:
            samples = load_dataset(args.data, model.settings.working_size)
        value, count = accuracy(model, samples)
        demo = " (demo)" if meta.get("demonstration") else ""
        print(f"{'EfficientNet ' + model.settings.variant + demo:<26}{count:>8}{value:>10.3f}")
    return 0


def run_real(model: RdsModel, args: argparse.Namespace) -> int:
    import json

    from inference.pipelines.rds.evaluate_real import evaluate, print_tables, summary

    groups = evaluate(model, args.data, args.part)
    print_tables(groups, model.settings.median_kernel)
    if args.json is not None:
        args.json.write_text(json.dumps(summary(groups), indent=2) + "\n", encoding="utf-8")
    return 0
