"""`dicom-node retry`: re-queue a failed job (undelivered objects are resent, delivered ones are not)."""

from __future__ import annotations

import argparse

from dicom_node.cli.common import add_config_argument, load
from dicom_node.ledger import open_ledger

HELP = "re-queue a failed job"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("job_id", type=int)


def run(args: argparse.Namespace) -> int:
    config = load(args, log=False)
    ledger = open_ledger(config.storage.database_url)
    state = ledger.retry_job(args.job_id)  # NotFoundError, JobStateConflict: one line, exit 2 (cli.main)
    print(f"job {args.job_id} re-queued ({state})")
    return 0
