"""`dicom-node infer PIPELINE PATH --out DIR`: run one pipeline offline on a folder holding one series.

Writes the outputs (SEG / SR / SC) as ``<KIND>_<SOPInstanceUID>.dcm`` into DIR and prints their paths.
``--bundle`` points the pipeline at a MONAI bundle (as ``pipelines.<name>.bundle`` does in the node
configuration); ``--device`` chooses cpu / cuda (default: cuda when present).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dicom_node.errors import InputError
from dicom_node.logsetup import get_logger

HELP = "run one pipeline offline on a series folder and write its DICOM outputs"
KIND_BY_MODALITY = {"SEG": "SEG", "SR": "SR", "OT": "SC"}
log = get_logger("inference.cli.infer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="pipeline name (see `dicom-node pipelines`)")
    parser.add_argument("path", type=Path, help="folder holding the DICOM files of one series")
    parser.add_argument("--out", type=Path, required=True, help="folder for the output files")
    parser.add_argument("--bundle", type=Path, default=None, help="MONAI bundle folder for the pipeline")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def run(args: argparse.Namespace) -> int:
    from inference import registry

    if args.pipeline not in registry.names():
        raise InputError(f"{args.pipeline}: unknown pipeline; known: {', '.join(registry.names())}")
    if not args.path.is_dir():
        raise InputError(f"{args.path}: not a folder")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"{args.out}: exists and is not a folder")
    settings: dict[str, object] = {"device": args.device}
    if args.bundle is not None:
        settings["bundle"] = args.bundle
    started = time.monotonic()
    log.info("infer_started", pipeline=args.pipeline, path=str(args.path))
    outputs = registry.run_pipeline(args.pipeline, args.path, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    for ds in outputs:
        kind = KIND_BY_MODALITY.get(str(ds.Modality), str(ds.Modality))
        target = args.out / f"{kind}_{ds.SOPInstanceUID}.dcm"
        ds.save_as(target, enforce_file_format=True)
        print(target)
    log.info("infer_finished", outputs=len(outputs), seconds=round(time.monotonic() - started, 1))
    return 0
