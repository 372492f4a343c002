"""The ``dicom-node`` command: one entry point, one module per subcommand.

Each subcommand module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules import only light dependencies at top level; heavy ones (torch, MONAI) are imported in ``run``.
Errors the user can act on are :class:`~dicom_node.errors.DicomNodeError`: printed as one line, exit 2.
Every subcommand logs in the one dialect of :mod:`dicom_node.logsetup` (structured lines on stderr, PHI
redacted); those that read ``--config`` then log as its ``logging`` section says.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dicom_node import __version__
from dicom_node.errors import DicomNodeError
from dicom_node.logsetup import configure_logging

# (subcommand, module) in the order shown by --help.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("serve", "dicom_node.cli.serve"),
    ("worker", "dicom_node.cli.worker"),
    ("demo", "dicom_node.cli.demo"),
    ("viewer", "dicom_node.cli.viewer"),
    ("send", "dicom_node.cli.send"),
    ("route", "dicom_node.cli.route"),
    ("jobs", "dicom_node.cli.jobs"),
    ("retry", "dicom_node.cli.retry"),
    ("check-config", "dicom_node.cli.check_config"),
    ("anonymize", "dicom_node.cli.anonymize"),
    ("volume", "inference.cli.volume"),
    ("pipelines", "inference.cli.pipelines"),
    ("infer", "inference.cli.infer"),
    ("train", "inference.cli.train"),
    ("evaluate", "inference.cli.evaluate"),
    ("calibrate", "inference.cli.calibrate"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-node",
        description="A DICOM node beside the PACS: receive, route, run AI pipelines, send results back.",
    )
    parser.add_argument("--version", action="version", version=f"dicom-node {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS:
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _database_unreachable(exc: Exception) -> str | None:
    """One line for a ledger database that cannot be reached (never the password in its URL)."""
    from sqlalchemy.exc import OperationalError  # sqlalchemy is a core dependency

    if not isinstance(exc, OperationalError):
        return None
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "connection failed"
    return f"cannot reach the ledger database (storage.database): {detail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()  # the defaults (info, json, stderr) until a command reads its --config
    try:
        return int(args._run(args))
    except DicomNodeError as exc:
        print(f"dicom-node {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        reason = _database_unreachable(exc)
        if reason is None:
            raise
        print(f"dicom-node {args.command}: error: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
