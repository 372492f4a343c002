"""Pieces shared by the subcommands: the --config option, config loading, logging set-up."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dicom_node.config import Config, load_config
from dicom_node.logsetup import configure_logging

DEFAULT_CONFIG_ENV = "DICOM_NODE_CONFIG"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(DEFAULT_CONFIG_ENV),
        help=f"node configuration (YAML); default: embedded defaults, or ${DEFAULT_CONFIG_ENV}",
    )


def load(args: argparse.Namespace, log: bool = True) -> Config:
    config = load_config(args.config)
    if log:
        configure_logging(config.logging.level, config.logging.format, config.logging.file)
    return config
