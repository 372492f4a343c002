"""``dicom-node evaluate atrophy DATA --bundle B``: per-region accuracy / sensitivity / specificity and
the 3-class confusion matrix of a trained head on the user's annotated subjects (layout of :mod:`.dataset`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate an atrophy head: per-region accuracy/sensitivity/specificity, 3-class confusion matrix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="AI-Hub style folder: subject folders with JSON + DICOM")
    parser.add_argument("--bundle", type=Path, required=True, help="head bundle written by train atrophy")
    parser.add_argument("--features", type=Path, help="features CSV cache (default: DATA/features.csv)")
    parser.add_argument("--no-compute", action="store_true", help="use only the features CSV")
    parser.add_argument(
        "--threshold", type=float, help="atrophy probability called positive (default: bundle's)"
    )
    parser.add_argument("--device", default="cpu", help="device for computing features from DICOM")


def run(args: argparse.Namespace) -> int:
    from inference.bundle import load_bundle
    from inference.pipelines.atrophy import dataset, head, metrics
    from inference.pipelines.atrophy.head_bundle import head_block

    bundle = load_bundle(args.bundle, "cpu")
    block = head_block(args.bundle, bundle.metadata)
    threshold = float(args.threshold if args.threshold is not None else block.get("threshold", 0.5))
    measure = None if args.no_compute else dataset.measure_with_pipeline({"device": args.device})
    data = dataset.load_dataset(args.data, measure, args.features)
    if block.get("demonstration"):
        print("NOTE: this bundle holds DEMONSTRATION WEIGHTS trained on synthetic features.")
    regions_p, classes_p = head.predict(bundle.network, data.x)
    print(f"Per-region atrophy ({len(data.subjects)} subjects, threshold {threshold:g}):")
    print("\n".join(metrics.region_table(metrics.region_scores(data.atrophy, regions_p, threshold))))
    print("Dementia / MCI / normal:")
    print("\n".join(metrics.confusion_table(metrics.confusion_matrix(data.labels, classes_p.argmax(axis=1)))))
    return 0
