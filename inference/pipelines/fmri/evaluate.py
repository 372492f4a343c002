"""``dicom-node evaluate fmri DATA [--bundle B]``: the paper's Table 1 on the user's labelled data.

Every ROI model stored in the bundle is run on all subjects of DATA (layout as for training); per ROI
the loss, accuracy and bootstrap p value are computed, and the table lists the ROIs that pass the
test (``--all`` lists every stored ROI), then the accuracy of the weighted ensemble.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate the fmri bundle on labelled runs: per-ROI loss, accuracy, bootstrap p (the paper's Table 1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="folder with labels.csv (series,label) and the runs")
    parser.add_argument(
        "--bundle", type=Path, help="bundle folder (default: the packaged demonstration bundle)"
    )
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--all", action="store_true", help="list every stored ROI, not only those that pass")
    parser.add_argument("--no-motion-correction", action="store_true")
    parser.add_argument("--seed", type=int, default=0)


def format_table(rows: list[tuple[int, str, str, float, float, float]]) -> list[str]:
    """Lines of the table: #, ROI number, region, hemisphere, loss, accuracy, bootstrap p."""
    lines = [f"{'#':>3} {'Power ROI':>9}  {'Region':<22} {'Hemi':<4} {'Loss':>6} {'ACC':>6} {'p':>7}"]
    for i, (roi, region, hemi, loss, acc, p) in enumerate(rows, start=1):
        lines.append(f"{i:>3} {roi:>9}  {region:<22} {hemi:<4} {loss:>6.2f} {acc:>6.2f} {p:>7.3f}")
    return lines


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from inference.bundle import load_bundle
    from inference.pipelines.fmri import atlas
    from inference.pipelines.fmri.bundle_io import default_bundle, info_from_metadata
    from inference.pipelines.fmri.dataset import load_dataset
    from inference.pipelines.fmri.ensemble import ensemble_probability
    from inference.pipelines.fmri.model import RoiLstmBank
    from inference.pipelines.fmri.training import predict, score

    path = args.bundle or default_bundle()
    bundle = load_bundle(path, "cpu")
    info = info_from_metadata(path, bundle.metadata)
    bank = bundle.network
    assert isinstance(bank, RoiLstmBank)
    data = load_dataset(args.data, info.stored, info.timing, motion_correction=not args.no_motion_correction)
    if info.demonstration:
        print("NOTE: this bundle holds DEMONSTRATION WEIGHTS trained on synthetic data.")
    probabilities = {roi: predict(bank.model(roi), data.features[:, i]) for i, roi in enumerate(info.stored)}
    stats = {
        r: score(r, p, data.labels, args.bootstrap, args.alpha, args.seed) for r, p in probabilities.items()
    }
    shown = [r for r in info.stored if args.all or stats[r].significant]
    rows = [
        (r, atlas.roi(r).region, atlas.roi(r).hemisphere, stats[r].loss, stats[r].accuracy, stats[r].p)
        for r in shown
    ]
    print(
        f"Table 1 - ROIs passing the bootstrap test (alpha {args.alpha}, {args.bootstrap} resamples), "
        f"{len(data.names)} subjects:"
    )
    print("\n".join(format_table(rows)))
    weights = {r: info.stats[r].accuracy for r in info.ensemble}
    overall = np.array(
        [
            ensemble_probability({r: float(probabilities[r][s]) for r in info.ensemble}, weights) or 0.5
            for s in range(len(data.names))
        ]
    )
    accuracy = float(np.mean((overall >= 0.5) == (data.labels == 1)))
    print(f"Ensemble ({len(info.ensemble)} ROIs, weighted by validation accuracy): accuracy {accuracy:.2f}")
    print("passing ROIs: " + ",".join(str(r) for r in shown))
    return 0
