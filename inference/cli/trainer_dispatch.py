"""Per-pipeline subcommands for `dicom-node train` and `dicom-node evaluate`.

Each pipeline that can be trained registers a module here (by name, imported lazily). A module exposes
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` like any subcommand.
"""

from __future__ import annotations

import argparse
import importlib

from dicom_node.errors import InputError

TRAINERS: dict[str, str] = {
    "atrophy": "inference.pipelines.atrophy.train",
    "rds": "inference.pipelines.rds.train",
    "dermatitis": "inference.pipelines.dermatitis.train",
    "fmri": "inference.pipelines.fmri.train",
}
EVALUATORS: dict[str, str] = {
    "atrophy": "inference.pipelines.atrophy.evaluate",
    "rds": "inference.pipelines.rds.evaluate",
    "dermatitis": "inference.pipelines.dermatitis.evaluate",
    "fmri": "inference.pipelines.fmri.evaluate",
}
CALIBRATORS: dict[str, str] = {
    "atrophy": "inference.pipelines.atrophy.calibrate",
}


def add_pipeline_subcommands(parser: argparse.ArgumentParser, table: dict[str, str]) -> None:
    sub = parser.add_subparsers(dest="pipeline", metavar="PIPELINE")
    for name, module_name in sorted(table.items()):
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_pipeline_run=module.run)


def run_pipeline_subcommand(args: argparse.Namespace, table: dict[str, str], verb: str) -> int:
    runner = getattr(args, "_pipeline_run", None)
    if runner is None:
        known = ", ".join(sorted(table)) or "none yet"
        raise InputError(f"name the pipeline to {verb} (known: {known})")
    return int(runner(args))
