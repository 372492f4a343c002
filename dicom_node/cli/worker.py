"""`dicom-node worker`: a Celery worker running the node's jobs (``execution.backend: celery``).

It consumes the given queues (default: one per configured pipeline, plus ``forward``) with a prefork
pool of ``--concurrency`` processes. Each process keeps its own pipeline child process, so each model is
loaded once per worker process. Math libraries (torch, OpenMP/BLAS) get ``--threads`` threads per
process — by default the CPU cores divided by the concurrency — so that worker processes sharing a
machine do not oversubscribe it.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from dicom_node.cli.common import add_config_argument, load
from dicom_node.config import Config
from dicom_node.errors import ConfigError

HELP = "run jobs from the Celery queues (execution.backend: celery): one process per --concurrency"

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--queues",
        help="comma-separated queues to consume (a pipeline name, or 'forward'); default: every "
        "pipeline the configuration uses, plus forward",
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="worker processes (prefork pool); default 1"
    )
    parser.add_argument(
        "--threads", type=int, help="math-library threads per worker process; default cores/concurrency"
    )
    parser.add_argument("--hostname", help="Celery node name (default: dicom-node-<pid>@<host>)")


def default_queues(config: Config) -> list[str]:
    from dicom_node.dispatch.queues import FORWARD_QUEUE

    names = set(config.pipelines) | {rule.pipeline for rule in config.rules if rule.pipeline}
    return [*sorted(names), FORWARD_QUEUE]


def threads_per_process(concurrency: int, requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, concurrency))


def limit_threads(threads: int) -> None:
    """Set the thread count the pipeline processes' math libraries read at import (inherited)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if config.execution.backend != "celery":
        raise ConfigError("execution.backend: must be celery to run `dicom-node worker` (it is local)")
    if args.concurrency < 1:
        raise ConfigError("--concurrency: must be at least 1")
    from dicom_node.node import check_pipelines

    check_pipelines(config)
    queues = [q.strip() for q in (args.queues or "").split(",") if q.strip()] or default_queues(config)
    threads = threads_per_process(args.concurrency, args.threads)
    limit_threads(threads)

    from celery.signals import setup_logging, worker_process_init

    from dicom_node.dispatch.celery_worker import create_worker_app
    from dicom_node.logsetup import get_logger

    # Celery configures no logging of its own when a receiver answers setup_logging: its records (task
    # received / succeeded, connection errors) go through the node's formatter, like every other line.
    setup_logging.connect(_logging_is_configured, weak=False)
    worker_process_init.connect(_no_billiard_child_logging, weak=False)
    app = create_worker_app(config)
    hostname = args.hostname or f"dicom-node-{os.getpid()}@{socket.gethostname()}"
    get_logger("dicom_node.worker").info(
        "worker_starting", queues=queues, concurrency=args.concurrency, threads=threads, hostname=hostname
    )
    level = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR"}[config.logging.level]
    app.worker_main(
        [
            "worker",
            f"--queues={','.join(queues)}",
            f"--concurrency={args.concurrency}",
            "--pool=prefork",
            f"--hostname={hostname}",
            f"--loglevel={level}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
    )
    return 0


def _logging_is_configured(**_: Any) -> None:
    """Celery's ``setup_logging`` receiver: :func:`dicom_node.cli.common.load` configured it already."""


def _no_billiard_child_logging(**_: Any) -> None:
    """In each pool process: drop the variables by which Celery has billiard give a spawned child (the
    pipeline process) a logging handler of its own; the child logs as its parent does
    (:func:`dicom_node.logsetup.configure_child`)."""
    for name in ("_MP_FORK_LOGLEVEL_", "_MP_FORK_LOGFILE_", "_MP_FORK_LOGFORMAT_"):
        os.environ.pop(name, None)
