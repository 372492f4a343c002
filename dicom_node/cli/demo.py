"""`dicom-node demo`: the whole flow on generated studies, with a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the whole flow on generated sample studies and print a summary"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="scratch folder (recreated)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for every job")


def run(args: argparse.Namespace) -> int:
    from dicom_node.demo.flow import run_demo

    return run_demo(args.workdir, args.timeout)
