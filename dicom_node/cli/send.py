"""`dicom-node send`: C-STORE files and folders to a DICOM node (a convenience SCU)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

from dicom_node.config import DestinationConfig
from dicom_node.errors import InputError
from dicom_node.logsetup import get_logger
from dicom_node.network.sender import Outgoing, send

log = get_logger("dicom_node.cli.send")
HELP = "send DICOM files/folders to HOST:PORT with C-STORE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--to", required=True, metavar="HOST:PORT")
    parser.add_argument("--aet", default="DICOM_NODE", help="our (calling) AE title")
    parser.add_argument("--aec", default="ANY-SCP", help="the called AE title")
    parser.add_argument("--batch", type=int, default=500, help="objects per association")


def collect(paths: list[Path]) -> tuple[list[Outgoing], list[str]]:
    """DICOM Part 10 files under ``paths`` (recursive); the rest is reported, not sent."""
    objects: list[Outgoing] = []
    skipped: list[str] = []
    for root in paths:
        if not root.exists():
            raise InputError(f"{root}: no such file or folder")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                meta = read_file_meta_info(path)
                sop_class = str(meta.MediaStorageSOPClassUID)
            except (InvalidDicomError, OSError, AttributeError, ValueError):
                skipped.append(str(path))
                continue
            objects.append(Outgoing(len(objects), path, sop_class))
    return objects, skipped


def run(args: argparse.Namespace) -> int:
    host, _, port = args.to.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--to {args.to!r}: expected HOST:PORT")
    objects, skipped = collect(args.paths)
    for path in skipped:
        log.warning("send_skipped", path=path, reason="not DICOM Part 10")
    if not objects:
        raise InputError("no DICOM files to send")
    destination = DestinationConfig(host=host, port=int(port), ae_title=args.aec, calling_ae_title=args.aet)
    log.info("send_started", objects=len(objects), called_ae=args.aec, host=host, port=int(port))
    outcomes = send(destination, args.aet, objects, batch_size=args.batch)
    failed = [o for o in outcomes if not o.accepted]
    for outcome in failed:
        log.warning("send_failed", path=str(objects[outcome.key].path), error=outcome.error)
    print(f"sent {len(outcomes) - len(failed)}, failed {len(failed)}, skipped {len(skipped)}")
    return 1 if failed else 0
