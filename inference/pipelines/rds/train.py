"""`dicom-node train rds DATA --out BUNDLE`: train the lung UNet and the RDS classifier into a bundle.

DATA layout: see :mod:`inference.pipelines.rds.dataset` (images/, masks/, labels.csv). A synthetic
training set comes from ``python -m inference.pipelines.rds.phantom DATA``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from inference.pipelines.rds.networks import CLASSIFIER_VARIANTS

HELP = "train the rds lung UNet + EfficientNet RDS classifier (images/, masks/, labels.csv) into a bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="folder with images/, masks/ (PNG 0/1/2) and labels.csv")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--variant", choices=CLASSIFIER_VARIANTS, default="b0", help="EfficientNet variant")
    parser.add_argument("--size", type=int, default=128, help="working resolution (pixels per side)")
    parser.add_argument("--seg-epochs", type=int, default=20)
    parser.add_argument("--cls-epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--median-kernel", type=int, default=5)
    parser.add_argument(
        "--rotation-trigger",
        choices=("area", "layout"),
        default="area",
        help="re-predict turned images when the lungs are small (area, the paper) or also misplaced (layout)",
    )
    parser.add_argument("--band-fraction", type=float, default=0.12, help="spine band width / image width")
    parser.add_argument("--threshold", type=float, default=0.5, help="probability for a positive finding")
    parser.add_argument("--max-steps", type=int, default=None, help="stop each network after N steps (smoke)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--lungs",
        choices=("auto", "train", "shipped"),
        default="auto",
        help="lung UNet: train it on DATA's masks, or keep the shipped real-data one (auto: shipped when "
        "DATA has no mask); --size must then be the shipped working size (128)",
    )
    parser.add_argument(
        "--demonstration",
        action="store_true",
        help="label the bundle as demonstration weights (synthetic training data)",
    )


def shipped_lungs(size: int) -> tuple[tuple[Any, dict[str, Any]], dict[str, Any]]:
    """The shipped bundle's lung UNet with its config entry, and its ``lung_model`` provenance."""
    from dicom_node.errors import InputError
    from inference.bundle import read_config
    from inference.pipelines.rds.bundle_io import SHIPPED_BUNDLE, load_model

    model, metadata = load_model(None, "cpu")
    if model.settings.working_size != size:
        raise InputError(f"--size {size}: the shipped lung UNet works at {model.settings.working_size}")
    config = read_config(SHIPPED_BUNDLE)["network_def"]
    provenance = dict(metadata.get("lung_model") or {})
    provenance["source"] = "the dicom-node shipped rds bundle " + str(metadata.get("version", ""))
    return (model.unet, config), provenance


def run(args: argparse.Namespace) -> int:
    import torch

    from inference.bundle import data_licence_in
    from inference.pipelines.rds.bundle_io import write_rds_bundle
    from inference.pipelines.rds.dataset import load_dataset
    from inference.pipelines.rds.model import RdsSettings
    from inference.pipelines.rds.training import TrainOptions, train

    if args.threads:
        torch.set_num_threads(args.threads)
    samples = load_dataset(args.data, args.size)
    masked = sum(s.labels is not None for s in samples)
    print(f"rds: {len(samples)} images ({masked} with masks)")
    lungs, lung_model = None, None
    if args.lungs == "shipped" or (args.lungs == "auto" and masked == 0):
        lungs, lung_model = shipped_lungs(args.size)
        print("rds: keeping the shipped lung UNet (trained on real radiographs); training the classifier")
    options = TrainOptions(
        size=args.size,
        variant=args.variant,
        seg_epochs=args.seg_epochs,
        cls_epochs=args.cls_epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        max_steps=args.max_steps,
        settings=RdsSettings(
            median_kernel=args.median_kernel,
            rotation_trigger=args.rotation_trigger,
            band_fraction=args.band_fraction,
            threshold=args.threshold,
        ),
    )
    trained = train(samples, options, print, lungs)
    info = {**trained.info, "data": args.data.name, "variant": args.variant}
    write_rds_bundle(
        args.out,
        trained.unet,
        trained.classifier,
        trained.configs,
        trained.settings,
        info,
        args.demonstration,
        lung_model,
        data_licence_in(args.data),
    )
    print(f"rds: bundle written to {args.out}")
    return 0
