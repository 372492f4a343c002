"""``dicom-node train atrophy DATA --out BUNDLE``: learn per-region atrophy and dementia / MCI / normal.

DATA: the AI-Hub style layout of :mod:`.dataset` (annotation JSON per subject, DICOM, optional
``features.csv`` cache). A stratified 70:30 split (``--train-fraction``); the head is fitted on the 70 %,
its scores on the 30 % are printed (as ``evaluate atrophy`` prints them) and stored in the bundle.
Light at import (the CLI imports every trainer to build its help); torch loads in ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dicom_node.logsetup import get_logger

log = get_logger("inference.pipelines.atrophy.train")

HELP = "train the atrophy head (per-region atrophy + dementia/MCI/normal from regional features)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="AI-Hub style folder: subject folders with JSON + DICOM")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--features", type=Path, help="features CSV cache (default: DATA/features.csv)")
    parser.add_argument(
        "--no-compute",
        action="store_true",
        help="use only the features CSV (no skull strip / parcellation); a missing subject is an error",
    )
    parser.add_argument("--hidden", type=int, default=0, help="hidden units (0 = logistic heads)")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=0.03)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--train-fraction", type=float, default=0.7, help="share of each class used to train")
    parser.add_argument("--threshold", type=float, default=0.5, help="atrophy probability called positive")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split and the training")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", help="device for computing features from DICOM")
    parser.add_argument("--version", default="1.0.0", help="bundle version")
    parser.add_argument("--demonstration", action="store_true", help="label the weights as demonstration")


def run(args: argparse.Namespace) -> int:
    import torch

    from dicom_node.errors import InputError
    from inference.bundle import data_licence_in
    from inference.pipelines.atrophy import dataset, head, metrics
    from inference.pipelines.atrophy.head_bundle import HeadInfo, write_head_bundle

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not 0.0 < args.train_fraction < 1.0:
        raise InputError("--train-fraction must lie between 0 and 1")
    if args.epochs < 1 or args.hidden < 0:
        raise InputError("--epochs must be >= 1 and --hidden >= 0")
    measure = None if args.no_compute else dataset.measure_with_pipeline({"device": args.device})
    data = dataset.load_dataset(args.data, measure, args.features)
    train_idx, test_idx = dataset.stratified_split(data.labels, args.train_fraction, args.seed)
    if len(train_idx) < 2:
        raise InputError(f"{args.data}: {len(data.subjects)} subject(s) are too few to train")
    train, test = data.take(train_idx), data.take(test_idx)
    log.info("train_split", training=len(train_idx), test=len(test_idx), unit="subjects")
    config = head.TrainConfig(args.hidden, args.epochs, args.learning_rate, args.weight_decay, args.seed)
    model = head.train_head(train.x, train.atrophy, train.labels, config)
    scores: dict[str, object] = {}
    if test_idx:
        regions_p, classes_p = head.predict(model, test.x)
        region_scores = metrics.region_scores(test.atrophy, regions_p, args.threshold)
        matrix = metrics.confusion_matrix(test.labels, classes_p.argmax(axis=1))
        print(f"held-out scores ({len(test_idx)} subjects):")
        print("\n".join(metrics.region_table(region_scores)))
        print("\n".join(metrics.confusion_table(matrix)))
        scores = {"regions": [s.to_json() for s in region_scores], "confusion": matrix.tolist()}
    info = HeadInfo(
        version=args.version,
        hidden=args.hidden,
        threshold=args.threshold,
        demonstration=bool(args.demonstration),
        subjects={"train": len(train_idx), "test": len(test_idx)},
        scores=scores,
        data_description=f"{len(data.subjects)} subjects",
    )
    state = {k: v.detach().clone().to(torch.float32) for k, v in model.state_dict().items()}
    write_head_bundle(args.out, state, info, data_licence_in(args.data))
    print(f"bundle written to {args.out}")
    return 0
