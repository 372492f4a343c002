"""``dicom-node train fmri DATA --out BUNDLE``: train the per-ROI LSTMs, bootstrap-test them, write a bundle.

DATA layout: see :mod:`inference.pipelines.fmri.dataset` (labels.csv + NIfTI files or DICOM series
folders). Light at import (the CLI imports every trainer to build its help); torch loads in ``run``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "train the fmri per-ROI LSTM models (Power 264 ROIs) and write a bundle"
log = logging.getLogger(__name__)


def parse_rois(text: str | None) -> list[int] | None:
    if not text:
        return None
    rois: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        rois += list(range(int(low), int(high) + 1)) if high else [int(low)]
    return rois


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="folder with labels.csv (series,label) and the runs")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--rois", help="ROIs to train, e.g. 1-264 or 12,86 (default all 264)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per ROI")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the bootstrap test")
    parser.add_argument(
        "--ensemble",
        default="paper",
        help="'paper' (the paper's 19 ROIs), 'significant', or a list like 12,86",
    )
    parser.add_argument("--length", type=int, help="trained number of volumes (default: median of DATA)")
    parser.add_argument("--tr", type=float, help="trained repetition time in s (default: median of DATA)")
    parser.add_argument("--no-motion-correction", action="store_true", help="runs are already realigned")
    parser.add_argument("--classes", default="control,patient", help="names of labels 0 and 1")
    parser.add_argument("--version", default="1.0.0", help="bundle version")
    parser.add_argument("--demonstration", action="store_true", help="label the weights as demonstration")
    parser.add_argument("--seed", type=int, default=0)


def choose_ensemble(option: str, trained: list[int], significant: list[int]) -> list[int]:
    from dicom_node.errors import InputError
    from inference.pipelines.fmri.atlas import PAPER_ROIS

    if option == "paper":
        chosen = [r for r in PAPER_ROIS if r in trained]
    elif option == "significant":
        chosen = list(significant)
    else:
        chosen = parse_rois(option) or []
        if any(r not in trained for r in chosen):
            raise InputError(f"--ensemble names ROIs that were not trained: {chosen}")
    if not chosen:
        raise InputError(
            f"--ensemble {option}: no ROI to use (trained: {len(trained)}, significant: {significant})"
        )
    return chosen


def run(args: argparse.Namespace) -> int:
    import torch

    from dicom_node.errors import InputError
    from inference.pipelines.fmri import atlas
    from inference.pipelines.fmri.bundle_io import FmriBundleInfo, write_bundle
    from inference.pipelines.fmri.dataset import load_dataset
    from inference.pipelines.fmri.model import HIDDEN, RoiLstmBank
    from inference.pipelines.fmri.temporal import Timing
    from inference.pipelines.fmri.training import train_all

    rois = parse_rois(args.rois) or list(range(1, atlas.N_ROIS + 1))
    classes = tuple(c.strip() for c in args.classes.split(","))
    if len(classes) != 2:
        raise InputError("--classes needs two names, e.g. control,patient")
    timing = Timing(args.length, args.tr or 3.0) if args.length else None
    data = load_dataset(args.data, rois, timing, motion_correction=not args.no_motion_correction)
    models, stats, _ = train_all(
        data.features, data.labels, rois, args.epochs, args.bootstrap, args.alpha, args.seed
    )
    significant = [r for r in rois if stats[r].significant]
    ensemble = choose_ensemble(args.ensemble, rois, significant)
    stored = sorted(set(ensemble) | set(significant))
    bank = RoiLstmBank(stored, atlas.n_points(), HIDDEN)
    for roi in stored:
        bank.model(roi).load_state_dict(models[roi].state_dict())
    info = FmriBundleInfo(
        version=args.version,
        timing=data.timing,
        n_points=atlas.n_points(),
        stats={r: stats[r] for r in stored},
        significant=significant,
        ensemble=ensemble,
        demonstration=bool(args.demonstration),
        class_names=(classes[0], classes[1]),
    )
    description = (
        f"Per-ROI 2-layer LSTM classifiers on Power 264 ROI matrices ({len(data.names)} subjects, "
        f"{len(rois)} ROIs trained, {len(significant)} significant by bootstrap at alpha {args.alpha})."
    )
    state = {k: v.detach().clone() for k, v in bank.state_dict().items()}
    write_bundle(args.out, {k: v.to(torch.float32) for k, v in state.items()}, info, HIDDEN, description)
    print(f"trained {len(rois)} ROIs on {len(data.names)} subjects; significant: {significant}")
    print(f"ensemble: {ensemble}; bundle written to {args.out}")
    return 0
