"""``dicom-node evaluate atrophy DATA [--bundle B]``: score what the SR reports, and the trained head.

On the user's annotated subjects (layout of :mod:`.dataset`) it prints, per region, accuracy,
sensitivity and specificity with 95 % Wilson intervals of

* the **norm-based regional findings** the SR carries ("below the expected range" = atrophy, at the
  pipeline's centile threshold, with the same norms, site table and calibration options), over the
  subjects with Patient's Age and Sex (the others are "not assessed" in the SR and are counted apart);
* the **trained head** (``--bundle``), per region and as the 3-class confusion matrix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HELP = "score the atrophy findings (norm-based, as in the SR) and a trained head against annotations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="AI-Hub style folder: subject folders with JSON + DICOM")
    parser.add_argument("--bundle", type=Path, help="head bundle written by train atrophy (optional)")
    parser.add_argument("--features", type=Path, help="features CSV cache (default: DATA/features.csv)")
    parser.add_argument("--no-compute", action="store_true", help="use only the features CSV")
    parser.add_argument(
        "--threshold", type=float, help="head: atrophy probability called positive (default: bundle's)"
    )
    parser.add_argument("--atrophy-centile", type=float, default=2.5, help="norms: centile threshold")
    parser.add_argument("--calibration", type=Path, help="norms: site calibration file")
    parser.add_argument("--norms-table", type=Path, help="norms: site reference table (CSV)")
    parser.add_argument("--device", default="cpu", help="device for computing features from DICOM")


def norm_findings(data: object, args: argparse.Namespace) -> tuple[np.ndarray, int]:
    """(N, 10) 1 = below the expected range, 0 = within, -1 = not assessed; and the not-assessed count."""
    from inference.pipelines.atrophy.assessment import evaluate_regions
    from inference.pipelines.atrophy.dataset import Dataset
    from inference.pipelines.atrophy.params import parse_params
    from inference.pipelines.atrophy.regions import REGIONS

    assert isinstance(data, Dataset)
    params = parse_params(
        {
            "atrophy_centile": args.atrophy_centile,
            "calibration": str(args.calibration) if args.calibration else None,
            "norms_table": str(args.norms_table) if args.norms_table else None,
        }
    )
    found = np.full((len(data.features), len(REGIONS)), -1, dtype=np.int64)
    skipped = 0
    for i, f in enumerate(data.features):
        if f.age is None or f.sex is None or f.icv_ml <= 0:
            skipped += 1
            continue
        volumes = {r.label: v for r, v in zip(REGIONS, f.volumes_ml, strict=True)}
        outcomes = evaluate_regions(
            volumes,
            f.icv_ml,
            f.age,
            f.sex,
            [],
            threshold=params.atrophy_centile,
            calibration=params.calibration,
            norms_table=params.norms_table,
        )
        found[i] = [int(o.below) for o in outcomes]
    return found, skipped


def run(args: argparse.Namespace) -> int:
    from inference.pipelines.atrophy import dataset, metrics

    measure = None if args.no_compute else dataset.measure_with_pipeline({"device": args.device})
    data = dataset.load_dataset(args.data, measure, args.features)
    found, skipped = norm_findings(data, args)
    assessed = found[:, 0] >= 0
    truth = np.where(assessed[:, None], data.atrophy, -1)
    print(
        f"Norm-based regional findings, as in the SR ({int(assessed.sum())} subjects assessed,"
        f" {skipped} not assessed: no age/sex; below the {args.atrophy_centile:g}th centile = atrophy):"
    )
    print("\n".join(metrics.region_table(metrics.region_scores(truth, np.clip(found, 0, 1), 0.5))))
    if args.bundle is None:
        print("Trained head: not evaluated (no --bundle)")
        return 0
    from inference.bundle import load_bundle
    from inference.pipelines.atrophy import head
    from inference.pipelines.atrophy.head_bundle import head_block

    bundle = load_bundle(args.bundle, "cpu")
    block = head_block(args.bundle, bundle.metadata)
    threshold = float(args.threshold if args.threshold is not None else block.get("threshold", 0.5))
    if block.get("demonstration"):
        print("NOTE: this bundle holds DEMONSTRATION WEIGHTS trained on synthetic features.")
    regions_p, classes_p = head.predict(bundle.network, data.x)
    print(f"Trained head, per-region atrophy ({len(data.subjects)} subjects, threshold {threshold:g}):")
    print("\n".join(metrics.region_table(metrics.region_scores(data.atrophy, regions_p, threshold))))
    print("Dementia / MCI / normal:")
    print("\n".join(metrics.confusion_table(metrics.confusion_matrix(data.labels, classes_p.argmax(axis=1)))))
    return 0
