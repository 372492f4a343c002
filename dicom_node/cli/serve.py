"""`dicom-node serve`: the SCP, the completion/routing scheduler and the job workers."""

from __future__ import annotations

import argparse
import signal
import threading

from dicom_node.cli.common import add_config_argument, load
from dicom_node.errors import DicomNodeError
from dicom_node.logsetup import get_logger

HELP = "run the node: receive (C-STORE/C-ECHO), complete series, route, run jobs, send results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help="receive and route only (scale-out receivers); with execution.backend: celery, serve never "
        "runs jobs itself: it sends them to the queues of `dicom-node worker`",
    )
    parser.add_argument("--port", type=int, help="override node.port")
    parser.add_argument("--no-web", action="store_true", help="do not serve the dashboard, API and /metrics")


def run(args: argparse.Namespace) -> int:
    from dicom_node.node import Node

    config = load(args)
    if args.port is not None:
        config.node.port = args.port
    node = Node(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log = get_logger("dicom_node.serve")
    node.start(work=not args.no_workers)
    web = None
    if config.web.enabled and not args.no_web:
        from dicom_node.web import WebServer, create_app

        web = WebServer(create_app(node), config.web.bind, config.web.port)
        try:
            web.start()
        except DicomNodeError as exc:  # the DICOM service keeps running without its dashboard
            log.error("web_unavailable", reason=str(exc))
            web = None
    log.info("ready", port=node.port, ae_title=config.node.ae_title, web=web.url if web else None)
    stop.wait()
    if web is not None:
        web.stop()
    node.stop()
    return 0
