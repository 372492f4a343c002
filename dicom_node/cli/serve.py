"""`dicom-node serve`: the SCP, the completion/routing scheduler and the job workers."""

from __future__ import annotations

import argparse
import signal
import threading

from dicom_node.cli.common import add_config_argument, load
from dicom_node.logsetup import get_logger

HELP = "run the node: receive (C-STORE/C-ECHO), complete series, route, run jobs, send results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--no-workers", action="store_true", help="receive and route only (scale-out receivers)"
    )
    parser.add_argument("--port", type=int, help="override node.port")


def run(args: argparse.Namespace) -> int:
    from dicom_node.node import Node
    from dicom_node.wiring import forward_transform_for

    config = load(args)
    if args.port is not None:
        config.node.port = args.port
    node = Node(config, forward_transform=forward_transform_for(config))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    node.start(work=not args.no_workers)
    get_logger("dicom_node.serve").info("ready", port=node.port, ae_title=config.node.ae_title)
    stop.wait()
    node.stop()
    return 0
