"""``dicom-node evaluate fmri DATA [--bundle B]``: the paper's Table 1 on the user's labelled data.

Runs (NIfTI / DICOM): every ROI model stored in the bundle is run on all subjects of DATA (layout as
for training); per ROI the loss, accuracy and bootstrap p value are computed, and the table lists the
ROIs that pass the test (``--all`` lists every stored ROI), then the accuracy of the weighted ensemble.

ROI time series (one time x ROI array per subject, :mod:`inference.pipelines.fmri.timeseries`): the
whole protocol runs on DATA (7:3 split, per-ROI LSTMs trained on the 70 %, Table 1 on the 30 %, the
ensemble chosen inside the 70 % and tested on the 30 %); no bundle is used.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inference.pipelines.fmri.timeseries import TimeSeriesSet

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
    add_timeseries_arguments(parser)


def add_timeseries_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by train and evaluate (``--length`` is added by train itself for runs too)."""
    group = parser.add_argument_group("protocol and ROI time series (DATA lists time x ROI arrays)")
    group.add_argument("--classes", default="control,patient", help="names of labels 0 and 1, e.g. TC,ASD")
    group.add_argument("--labels", type=Path, help="labels file (default DATA/labels.csv)")
    if not any(a.dest == "length" for a in parser._actions):
        group.add_argument("--length", type=int, help="time points used per run (default: the shortest run)")
    group.add_argument("--atlas", default="CC200", help="name of the time series' atlas, for the table")
    group.add_argument(
        "--columns", help="time-series ROI columns to use, 1-based, e.g. 1-200 or 1,6,11 (all)"
    )
    group.add_argument("--epochs", type=int, default=30)
    group.add_argument("--hidden", type=int, default=16, help="LSTM hidden size")
    group.add_argument("--batch", type=int, default=16, help="mini-batch size; 0 = all training subjects")


def run_timeseries(args: argparse.Namespace) -> int:
    """The protocol on ROI time series: returns 0 after printing the report."""
    import time

    import torch

    from inference.pipelines.fmri.protocol_report import column_name, protocol_lines
    from inference.pipelines.fmri.timeseries import load_timeseries
    from inference.pipelines.fmri.training import Settings, run_protocol

    torch.set_num_threads(1)  # a shared machine; batched ROIs keep one core busy
    data = select_columns(
        load_timeseries(args.data, classes_of(args), args.length, args.labels), args.columns
    )
    cropped = sum(n > data.length for n in data.original_lengths)
    positive = classes_of(args)[1]
    print(
        f"{len(data.names)} subjects ({int(data.labels.sum())} {positive}), {len(data.rois)} ROIs, "
        f"{data.length} time points each ({cropped} runs cropped, none stretched)"
    )
    settings = Settings(args.epochs, args.bootstrap, args.alpha, args.seed, args.hidden, args.batch or None)
    start = time.perf_counter()
    result = run_protocol(data.features, data.labels, data.rois, settings)
    print("\n".join(protocol_lines(result, column_name(args.atlas), args.alpha, args.bootstrap, args.all)))
    print(f"protocol time: {time.perf_counter() - start:.0f} s for {len(data.rois)} ROIs x 2 models")
    return 0


def select_columns(data: TimeSeriesSet, columns: str | None) -> TimeSeriesSet:
    """Only the given 1-based ROI columns (all when ``columns`` is empty)."""
    from dicom_node.errors import InputError
    from inference.pipelines.fmri.train import parse_rois

    chosen = parse_rois(columns)
    if not chosen:
        return data
    if any(c < 1 or c > len(data.rois) for c in chosen):
        raise InputError(f"--columns: expected numbers in 1..{len(data.rois)}")
    index = [c - 1 for c in chosen]
    return dataclasses.replace(data, features=data.features[:, index], rois=chosen)


def classes_of(args: argparse.Namespace) -> tuple[str, str]:
    from dicom_node.errors import InputError

    names = tuple(c.strip() for c in str(args.classes).split(","))
    if len(names) != 2:
        raise InputError("--classes needs two names, e.g. control,patient")
    return (names[0], names[1])


def is_timeseries_data(args: argparse.Namespace) -> bool:
    from inference.pipelines.fmri.timeseries import is_timeseries, read_rows

    return is_timeseries(read_rows(args.labels or args.data / "labels.csv", classes_of(args)))


def format_table(rows: list[tuple[int, str, float, float, float]]) -> list[str]:
    """Lines of the table: #, Power ROI (index, MNI coordinate, region, side), loss, accuracy, p."""
    lines = [f"{'#':>3}  {'Power ROI':<72} {'Loss':>6} {'ACC':>6} {'p':>7}"]
    for i, (_, name, loss, acc, p) in enumerate(rows, start=1):
        lines.append(f"{i:>3}  {name:<72} {loss:>6.2f} {acc:>6.2f} {p:>7.3f}")
    return lines


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dicom_node.errors import InputError
    from inference.bundle import load_bundle
    from inference.pipelines.fmri import atlas
    from inference.pipelines.fmri.bundle_io import POWER_INPUT, default_bundle, info_from_metadata
    from inference.pipelines.fmri.dataset import load_dataset
    from inference.pipelines.fmri.ensemble import ensemble_probability
    from inference.pipelines.fmri.model import RoiLstmBank
    from inference.pipelines.fmri.training import predict, score

    if is_timeseries_data(args):
        return run_timeseries(args)
    path = args.bundle or default_bundle()
    bundle = load_bundle(path, "cpu")
    info = info_from_metadata(path, bundle.metadata)
    if info.input_kind != POWER_INPUT:
        raise InputError(f"{path}: a bundle of {info.input_kind}; DATA holds runs, not ROI time series")
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
    rows = [(r, atlas.roi(r).describe(), stats[r].loss, stats[r].accuracy, stats[r].p) for r in shown]
    print(
        f"Table 1 - ROIs passing the bootstrap test (alpha {args.alpha}, {args.bootstrap} resamples), "
        f"{len(data.names)} subjects:"
    )
    print("\n".join(format_table(rows)))
    weights = {r: info.weight(r) for r in info.ensemble}
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
