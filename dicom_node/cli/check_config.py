"""`dicom-node check-config`: validate the configuration as `serve` does at start, without starting.

The typed configuration (every section), the rules' pipelines and each ``pipelines.<name>.params``
against its pipeline's typed model (and the files it names). Exit 0 and one summary line when the node
would start; otherwise the error naming the key path, exit 2.
"""

from __future__ import annotations

import argparse

from dicom_node.cli.common import add_config_argument, load

HELP = "validate the node configuration (as serve does at start) without starting"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    from dicom_node.node import check_pipelines

    config = load(args, log=False)
    check_pipelines(config)
    named = [r.pipeline for r in config.rules] + [r.pipeline for r in config.study_rules]
    pipelines = sorted({name for name in named if name})
    print(
        f"configuration valid: {len(config.rules)} rule(s), {len(config.study_rules)} study rule(s), "
        f"{len(config.destinations)} destination(s), pipelines used: {', '.join(pipelines) or 'none'}"
    )
    return 0
