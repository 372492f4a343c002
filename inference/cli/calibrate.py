"""`dicom-node calibrate PIPELINE CONTROLS`: fit a site calibration from the site's own healthy controls."""

from __future__ import annotations

import argparse

from inference.cli.trainer_dispatch import CALIBRATORS, add_pipeline_subcommands, run_pipeline_subcommand

HELP = "calibrate a pipeline's norms to this site from healthy controls and write a calibration file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pipeline_subcommands(parser, CALIBRATORS)


def run(args: argparse.Namespace) -> int:
    return run_pipeline_subcommand(args, CALIBRATORS, "calibrate")
