"""`dicom-node pipelines`: list the pipelines this node can run and what each accepts."""

from __future__ import annotations

import argparse

HELP = "list the AI pipelines and the series each accepts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--names", action="store_true", help="print only the names, one per line")


def run(args: argparse.Namespace) -> int:
    from inference import registry

    for name in registry.names():
        if args.names:
            print(name)
        else:
            print(f"{name:<12} {registry.info(name).accepts}")
    return 0
