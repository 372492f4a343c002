"""`dicom-node retry`: re-queue a failed job (undelivered objects are resent, delivered ones are not)."""

from __future__ import annotations

import argparse

from dicom_node.cli.common import add_config_argument, load
from dicom_node.errors import InputError
from dicom_node.ledger import open_ledger

HELP = "re-queue a failed job"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("job_id", type=int)


def run(args: argparse.Namespace) -> int:
    config = load(args, log=False)
    ledger = open_ledger(config.storage.database_url)
    try:
        state = ledger.retry_job(args.job_id)
    except KeyError:
        raise InputError(f"job {args.job_id}: no such job") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    print(f"job {args.job_id} re-queued ({state})")
    return 0
