"""`dicom-node serve`: the SCP, the completion/routing scheduler and the job workers."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

from dicom_node.cli.common import add_config_argument, load
from dicom_node.errors import DicomNodeError
from dicom_node.logsetup import get_logger
from dicom_node.network.receiver_processes import (
    LISTEN_FD_OPTION,
    PARENT_PID_OPTION,
    ReceiverProcesses,
)
from dicom_node.parent_watch import exit_with_parent

if TYPE_CHECKING:
    from dicom_node.node import Node

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
    # internal: an extra receiver process started by `serve` (node.receiver_processes), on its socket
    parser.add_argument(LISTEN_FD_OPTION, type=int, dest="listen_fd", help=argparse.SUPPRESS)
    parser.add_argument(PARENT_PID_OPTION, type=int, dest="parent_pid", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from dicom_node.node import Node

    extra_receiver = args.listen_fd is not None
    if extra_receiver:  # never outlive the node, even while starting
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the node stops us
        exit_with_parent(args.parent_pid)
    config = load(args)
    if args.port is not None:
        config.node.port = args.port
    node = Node(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM,) if extra_receiver else (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log = get_logger("dicom_node.serve")
    if extra_receiver:
        return _run_extra_receiver(node, args.listen_fd, stop)
    node.start(work=not args.no_workers)
    extra = None
    if config.node.receiver_processes > 1:
        extra = ReceiverProcesses(config.node.receiver_processes - 1, node.receiver.listen_fd, args.config)
        extra.start()
    web = None
    if config.web.enabled and not args.no_web:
        from dicom_node.web import WebServer, create_app

        web = WebServer(create_app(node), config.web.bind, config.web.port, config.web.tls)
        try:
            web.start()
        except DicomNodeError as exc:  # the DICOM service keeps running without its dashboard
            log.error("web_unavailable", reason=str(exc))
            web = None
    log.info(
        "ready",
        port=node.port,
        ae_title=config.node.ae_title,
        web=web.url if web else None,
        receiver_processes=config.node.receiver_processes,
    )
    stop.wait()
    if extra is not None:
        extra.stop()
    if web is not None:
        web.stop()
    node.stop()
    return 0


def _run_extra_receiver(node: Node, listen_fd: int, stop: threading.Event) -> int:
    """One of the extra receiver processes: receive on the parent's socket until stopped or orphaned."""
    node.start(work=False, schedule=False, listen_fd=listen_fd)
    stop.wait()
    node.stop()
    return 0
