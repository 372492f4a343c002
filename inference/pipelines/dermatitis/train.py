"""`dicom-node train dermatitis DATA --out BUNDLE_DIR`: train the grader, write a MONAI bundle.

DATA holds labelled crops (``labels.csv`` or ``<sign>/<0-3>/`` folders, see
:mod:`inference.pipelines.dermatitis.dataset`). 70 % train, 30 % are held out and their accuracy per
sign is printed and stored in the bundle. ``--write-synthetic N`` first fills DATA with N crops of
the synthetic skin-texture generator: what the shipped demonstration weights were trained on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dicom_node.errors import InputError
from dicom_node.logsetup import get_logger

log = get_logger("inference.pipelines.dermatitis.train")

HELP = "train the dermatitis severity grader (erythema, excoriation, lichenification 0-3)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="labels.csv, or a folder with labels.csv or <sign>/<0-3>/")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--depth", type=int, default=50, help="ResNet depth (10/18/34/50/101/152/200)")
    parser.add_argument("--width", type=float, default=1.0, help="channel width factor (1.0 = standard)")
    parser.add_argument("--patch-size", type=int, default=64, help="crop size fed to the network")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="seeds the 70:30 split and the training")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument(
        "--write-synthetic",
        type=int,
        default=0,
        metavar="N",
        help="first write N synthetic crops into DATA; the bundle is then labelled DEMONSTRATION weights",
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from inference.bundle import data_licence_in
    from inference.pipelines.dermatitis import dataset, training

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.epochs < 1 or args.batch_size < 2:
        raise InputError("--epochs must be >= 1 and --batch-size >= 2")
    synthetic = args.write_synthetic > 0
    if synthetic:
        log.info("train_writing_synthetic", crops=args.write_synthetic, folder=str(args.data))
        dataset.write_synthetic(args.data, args.write_synthetic, args.seed + 1, args.patch_size)
    items = dataset.read_items(args.data)
    train_items, test_items = dataset.split(items, args.seed)
    if len(train_items) < 2:
        raise InputError(f"{args.data}: {len(items)} labelled image(s) are too few to train")
    config = training.TrainConfig(
        depth=args.depth,
        width=args.width,
        patch_size=args.patch_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        demonstration=synthetic,
        data_description=(
            f"{len(items)} synthetic crops (seed {args.seed + 1})" if synthetic else f"{len(items)} crops"
        ),
    )
    log.info("train_split", training=len(train_items), test=len(test_items), unit="crops", ratio="70:30")
    images, labels = dataset.load_images(train_items, args.patch_size)

    def progress(line: str) -> None:
        log.info("train_progress", detail=line)

    network = training.train_network(images, labels, config, progress)
    test_images, test_labels = dataset.load_images(test_items, args.patch_size)
    scores = training.accuracy(training.predict(network, test_images), test_labels)
    counts = {"train": len(train_items), "test": len(test_items)}
    licence = None if synthetic else data_licence_in(args.data)
    training.write_dermatitis_bundle(args.out, network, config, counts, scores, licence)
    for key, value in scores.items():
        shown = "n/a" if value is None else f"{100 * value:.2f} %"
        print(f"test accuracy {key}: {shown}")
    print(args.out)
    return 0
