"""`dicom-node demo`: the whole flow on generated studies, with a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the whole flow on generated sample studies and print a summary"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="scratch folder (recreated)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for all jobs (300; 900 with --real-data)"
    )
    parser.add_argument(
        "--real-data",
        type=Path,
        default=None,
        help="also run rds, atrophy and fmri on real series from this folder (the repository's tests/data)",
    )


def run(args: argparse.Namespace) -> int:
    from dicom_node.demo.flow import run_demo

    timeout = args.timeout if args.timeout is not None else (900 if args.real_data else 300)
    return run_demo(args.workdir, timeout, args.real_data)
