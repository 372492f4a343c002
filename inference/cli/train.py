"""`dicom-node train PIPELINE DATA --out BUNDLE_DIR`: train a pipeline's models into a MONAI bundle."""

from __future__ import annotations

import argparse

from inference.cli.trainer_dispatch import TRAINERS, add_pipeline_subcommands, run_pipeline_subcommand

HELP = "train a pipeline on your data and write a MONAI bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pipeline_subcommands(parser, TRAINERS)


def run(args: argparse.Namespace) -> int:
    return run_pipeline_subcommand(args, TRAINERS, "train")
