"""``dicom-node anonymize``: the anonymizer's command (:mod:`anonymizer.cli`) with the node's profiles.

The anonymizer library takes plain settings; this layer adds ``--config`` and, for ``--profile NAME``,
passes it the profiles under ``anonymizer.profiles`` of the node's configuration.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from anonymizer import cli as anonymizer_cli
from anonymizer.settings import ProfileSettings

HELP = anonymizer_cli.HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="node configuration (for --profile)")
    anonymizer_cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    profiles: dict[str, ProfileSettings] = {}
    if args.profile:
        from dicom_node.config import load_config

        profiles = dict(load_config(args.config).anonymizer.profiles)
    return anonymizer_cli.run(args, profiles)
