"""`dicom-node route`: show how the configured rules decide for a file or a series folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from dicom_node.cli.common import add_config_argument, load
from dicom_node.errors import InputError
from dicom_node.routing.rules import compile_rules, evaluate

HELP = "test the routing rules on a file or series folder: which rules match and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("path", type=Path, metavar="PATH")


def _first_dicom(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
            try:
                dcmread(candidate, stop_before_pixels=True, specific_tags=["SOPClassUID"])
                return candidate
            except (InvalidDicomError, OSError, ValueError):
                continue
        raise InputError(f"{path}: no DICOM file in this folder")
    raise InputError(f"{path}: no such file or folder")


def run(args: argparse.Namespace) -> int:
    config = load(args, log=False)
    source = _first_dicom(args.path)
    try:
        header = dcmread(source, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise InputError(f"{source}: not a readable DICOM file ({exc})") from None
    rules = compile_rules(config.rules)
    if not rules:
        print("no rules configured")
        return 0
    print(f"header from {source}")
    for decision in evaluate(rules, header):
        verdict = "FIRES" if decision.fired else ("matches" if decision.matched else "no match")
        actions = decision.rule.action + (
            f" {decision.rule.config.pipeline}" if decision.rule.config.pipeline else ""
        )
        if decision.rule.config.send_to:
            actions += " -> " + ", ".join(decision.rule.config.send_to)
        print(f"{decision.rule.name:24} {verdict:9} [{actions}]  {decision.reason}")
    return 0
