"""``dicom-node train fmri DATA --out BUNDLE``: the paper's protocol, then a bundle of the chosen ROIs.

DATA layout: see :mod:`inference.pipelines.fmri.dataset` (labels.csv + NIfTI files or DICOM series
folders) or :mod:`inference.pipelines.fmri.timeseries` (labels.csv + one time x ROI array per
subject). The protocol (:func:`inference.pipelines.fmri.training.run_protocol`): 7:3 subject split,
per-ROI models, Table 1 on the test split, the ensemble chosen by the bootstrap test inside the
training split (``--ensemble selected``, the default). A time-series bundle records its atlas and is
refused by the DICOM pipeline (its inputs are not Power spheres). Light at import (the CLI imports
every trainer to build its help); torch loads in ``run``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inference.pipelines.fmri.temporal import Timing
    from inference.pipelines.fmri.training import ProtocolResult

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
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per ROI")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the bootstrap test")
    parser.add_argument(
        "--ensemble",
        default="selected",
        help="'selected' (ROIs passing the bootstrap test inside the training split), 'paper' (the "
        "paper's 19 ROIs as Power indices), or a list like 20,99",
    )
    parser.add_argument(
        "--length",
        type=int,
        help="volumes used per run: the first N (default: the shortest run; never resampled)",
    )
    parser.add_argument("--tr", type=float, help="trained repetition time in s (default: median of DATA)")
    parser.add_argument("--no-motion-correction", action="store_true", help="runs are already realigned")
    parser.add_argument("--version", default="1.0.0", help="bundle version")
    parser.add_argument("--demonstration", action="store_true", help="label the weights as demonstration")
    parser.add_argument("--seed", type=int, default=0)
    from inference.pipelines.fmri.evaluate import add_timeseries_arguments

    add_timeseries_arguments(parser)


def choose_ensemble(option: str, trained: list[int], significant: list[int]) -> list[int]:
    from dicom_node.errors import InputError
    from inference.pipelines.fmri.atlas import PAPER_ROIS

    if option == "paper":
        chosen = [r for r in PAPER_ROIS if r in trained]
    elif option in ("selected", "significant"):
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

    from inference.pipelines.fmri import atlas
    from inference.pipelines.fmri.dataset import load_dataset
    from inference.pipelines.fmri.evaluate import classes_of, is_timeseries_data, select_columns
    from inference.pipelines.fmri.protocol_report import column_name, power_name, protocol_lines
    from inference.pipelines.fmri.temporal import Timing
    from inference.pipelines.fmri.timeseries import load_timeseries
    from inference.pipelines.fmri.training import Settings, run_protocol

    torch.set_num_threads(1)
    classes = classes_of(args)
    if is_timeseries_data(args):
        series = select_columns(load_timeseries(args.data, classes, args.length, args.labels), args.columns)
        features, labels, rois, n = series.features, series.labels, series.rois, len(series.names)
        timing, kind, name = (
            Timing(series.length, args.tr or 2.0),
            f"roi_timeseries:{args.atlas}",
            column_name(args.atlas),
        )
    else:
        rois = parse_rois(args.rois) or list(range(1, atlas.N_ROIS + 1))
        given = Timing(args.length, args.tr or 3.0) if args.length else None
        data = load_dataset(args.data, rois, given, motion_correction=not args.no_motion_correction)
        features, labels, n, timing, kind, name = (
            data.features,
            data.labels,
            len(data.names),
            data.timing,
            POWER,
            power_name,
        )
    settings = Settings(args.epochs, args.bootstrap, args.alpha, args.seed, args.hidden, args.batch or None)
    result = run_protocol(features, labels, rois, settings)
    print("\n".join(protocol_lines(result, name, args.alpha, args.bootstrap, False)))
    ensemble = choose_ensemble(args.ensemble, rois, result.ensemble)
    write(args, result, ensemble, timing, kind, classes, features.shape[-1], n)
    print(f"ensemble: {ensemble}; bundle written to {args.out}")
    return 0


POWER = "power264_spheres"


def write(
    args: argparse.Namespace,
    result: ProtocolResult,
    ensemble: list[int],
    timing: Timing,
    kind: str,
    classes: tuple[str, str],
    n_points: int,
    n_subjects: int,
) -> None:
    import torch

    from inference.bundle import data_licence_in
    from inference.pipelines.fmri.bundle_io import FmriBundleInfo, write_fmri_bundle
    from inference.pipelines.fmri.model import RoiLstmBank

    significant = [r for r in result.rois if result.test[r].significant]
    stored = sorted(set(ensemble) | set(significant))
    bank = RoiLstmBank(stored, n_points, args.hidden)
    for roi in stored:
        bank.model(roi).load_state_dict(result.models[roi].state_dict())
    info = FmriBundleInfo(
        version=args.version,
        timing=timing,
        n_points=n_points,
        stats={r: result.test[r] for r in stored},
        significant=significant,
        ensemble=ensemble,
        demonstration=bool(args.demonstration),
        class_names=classes,
        weights={r: result.inner[r].accuracy for r in stored},
        input_kind=kind,
    )
    description = (
        f"Per-ROI 2-layer LSTM classifiers ({kind}; {n_subjects} subjects, {result.n_train} training / "
        f"{result.n_test} test, {len(result.rois)} ROIs trained, {len(significant)} significant on the test "
        f"split and {len(result.ensemble)} selected inside the training split, alpha {args.alpha})."
    )
    state = {k: v.detach().clone().to(torch.float32) for k, v in bank.state_dict().items()}
    data = f"{args.data.name}: {n_subjects} subjects ({kind})"
    write_fmri_bundle(args.out, state, info, args.hidden, description, data, data_licence_in(args.data))
