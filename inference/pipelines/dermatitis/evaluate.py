"""`dicom-node evaluate dermatitis DATA [--bundle DIR ...]`: the paper's Table 3 for our models.

Table 3 of the paper lists, per CNN model, the accuracy (%) of the severity grade (0-3) on the 30 %
test split, one column per sign. Each bundle given (default: the shipped one) is one row, evaluated
on the same 30 % of DATA it held out in training (its split seed), or on every crop with ``--all``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dicom_node.logsetup import get_logger

log = get_logger("inference.pipelines.dermatitis.evaluate")

HELP = "print the paper's Table 3 (accuracy per sign per model) for dermatitis bundles"
MODEL_WIDTH = 40
COLUMN_WIDTH = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="labels.csv, or a folder with labels.csv or <sign>/<0-3>/")
    parser.add_argument(
        "--bundle", type=Path, action="append", default=None, help="bundle folder (repeat to compare models)"
    )
    parser.add_argument("--all", action="store_true", help="evaluate every crop, not the 30 %% test split")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def model_label(metadata: dict[str, Any]) -> str:
    derm = metadata.get("dermatitis") or {}
    label = str(derm.get("architecture", metadata.get("name", "model")))
    return label + (" (DEMONSTRATION)" if derm.get("demonstration") else "")


def format_table(rows: list[tuple[str, dict[str, float | None]]], caption: str) -> str:
    """Table 3's layout: one row per model, accuracy (%) per sign."""
    from inference.pipelines.dermatitis.signs import SIGNS

    header = "CNN model".ljust(MODEL_WIDTH) + "".join(s.title.rjust(COLUMN_WIDTH) for s in SIGNS)
    lines = [caption, header, "-" * len(header)]
    for label, scores in rows:
        cells = []
        for sign in SIGNS:
            value = scores.get(sign.key)
            cells.append(("n/a" if value is None else f"{100 * value:.2f}").rjust(COLUMN_WIDTH))
        lines.append(label[:MODEL_WIDTH].ljust(MODEL_WIDTH) + "".join(cells))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from inference.bundle import Expectation, load_bundle
    from inference.pipelines.dermatitis import dataset, training
    from inference.pipelines.dermatitis.pipeline import DEFAULT_BUNDLE
    from inference.pipelines.dermatitis.signs import SIGN_KEYS

    items = dataset.read_items(args.data)
    rows: list[tuple[str, dict[str, float | None]]] = []
    counts: dict[str, int] = {}
    for path in args.bundle or [DEFAULT_BUNDLE]:
        bundle = load_bundle(path, device=args.device, expect=Expectation(input_channels=3, spatial_dims=2))
        derm = bundle.metadata.get("dermatitis") or {}
        chosen = items if args.all else dataset.split(items, int(derm.get("split_seed", 0)))[1]
        log.info("evaluate_bundle", bundle=str(path), crops=len(chosen))
        images, labels = dataset.load_images(chosen, int(derm.get("patch_size", 64)))
        scores = training.accuracy(training.predict(bundle.network, images), labels)
        rows.append((model_label(bundle.metadata), scores))
        counts = {key: int((labels[:, i] >= 0).sum()) for i, key in enumerate(SIGN_KEYS)}
    split = "all crops" if args.all else "30 % test split"
    per_sign = ", ".join(f"{k} {v}" for k, v in counts.items())
    caption = f"Table 3. Severity (0-3) accuracy (%) per CNN model ({split} of {args.data}: {per_sign})"
    print(format_table(rows, caption))
    return 0
