"""``dicom-node calibrate atrophy CONTROLS_DIR``: this site's offset per region from its healthy controls.

``CONTROLS_DIR`` holds one folder per control with that person's 3D T1 DICOM series (Patient's Age and
Sex in the headers); the regional volumes are measured with the pipeline (about a minute per control)
and cached in ``CONTROLS_DIR/features.csv`` (columns of :mod:`.features`), so an interrupted run resumes
and a site that already has the volumes can provide the CSV alone (``--no-compute``). The offsets are
fitted as described in :mod:`.calibration` and written to ``--out`` (default
``CONTROLS_DIR/atrophy-calibration.json``); name that file in ``pipelines.atrophy.params.calibration``.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from dicom_node.errors import InputError
from inference.pipelines.atrophy.features import FEATURES_CSV, RegionalFeatures, read_features_csv

HELP = "fit per-region site offsets of the atrophy norms from healthy controls (writes a calibration file)"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("controls", type=Path, help="folder: one sub-folder of DICOM per healthy control")
    parser.add_argument(
        "--out", type=Path, help="calibration file (default: CONTROLS/atrophy-calibration.json)"
    )
    parser.add_argument("--name", help="name written into the file and the SR (default: the folder's name)")
    parser.add_argument("--features", type=Path, help="features CSV cache (default: CONTROLS/features.csv)")
    parser.add_argument("--no-compute", action="store_true", help="use only the features CSV")
    parser.add_argument("--device", default="cpu", help="device for measuring the controls")


def collect(root: Path, cache: Path, compute: bool, device: str) -> list[RegionalFeatures]:
    """The controls' regional features: from the cache, else measured (and cached) per sub-folder."""
    from inference.pipelines.atrophy.dataset import measure_with_pipeline
    from inference.pipelines.atrophy.features import write_features_csv

    cached = read_features_csv(cache)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if compute else []
    measure = measure_with_pipeline({"device": device}) if folders else None
    for index, folder in enumerate(folders, 1):
        if folder.name in cached or measure is None:
            continue
        print(f"[{index}/{len(folders)}] measuring {folder.name}", flush=True)
        try:
            cached[folder.name] = measure(folder, folder.name)
        except InputError as exc:
            log.warning("control skipped: %s", exc)
            continue
        write_features_csv(cache, cached.values())
    return list(cached.values())


def run(args: argparse.Namespace) -> int:
    from inference.pipelines.atrophy import calibration

    root: Path = args.controls
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    cache = args.features or root / FEATURES_CSV
    controls = collect(root, cache, not args.no_compute, args.device)
    usable = calibration.usable(controls)
    if len(usable) < calibration.MIN_CONTROLS:
        raise InputError(
            f"{root}: {len(usable)} controls with age and sex; at least {calibration.MIN_CONTROLS} needed"
            f" ({calibration.RECOMMENDED_CONTROLS} or more recommended)"
        )
    if len(usable) < calibration.RECOMMENDED_CONTROLS:
        print(f"NOTE: {len(usable)} controls; {calibration.RECOMMENDED_CONTROLS} or more recommended.")
    fitted = calibration.fit(usable, args.name or root.resolve().name)
    out = args.out or root / "atrophy-calibration.json"
    calibration.write_calibration(fitted, out)
    print(f"{'region':<22} {'offset':>8} {'factor':>7} {'SE':>6}")
    for key, offset in fitted.offsets.items():
        print(f"{key:<22} {offset.log_offset:+8.3f} {math.exp(offset.log_offset):7.3f} {offset.se:6.3f}")
    print(f"{len(usable)} controls; calibration written to {out}")
    print(f"use it with: pipelines.atrophy.params.calibration: {out.resolve()}")
    return 0
