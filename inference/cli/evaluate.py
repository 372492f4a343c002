"""`dicom-node evaluate PIPELINE DATA --bundle DIR`: print the research paper's table for a pipeline."""

from __future__ import annotations

import argparse

from inference.cli.trainer_dispatch import EVALUATORS, add_pipeline_subcommands, run_pipeline_subcommand

HELP = "evaluate a bundle on your data and print the paper's table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pipeline_subcommands(parser, EVALUATORS)


def run(args: argparse.Namespace) -> int:
    return run_pipeline_subcommand(args, EVALUATORS, "evaluate")
