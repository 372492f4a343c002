"""The worker's side of the ``celery`` backend: the ``run_job`` task and its per-process state.

Each Celery worker process (prefork pool) builds, on its first task, one ledger connection, one
:class:`JobRunner` and one :class:`PipelineProcess`: the pipeline child process lives as long as the worker
process, so each model is loaded once per worker process and stays loaded (the child also isolates the
worker from a pipeline that crashes or overruns its timeout, as with the local backend).

The task claims the named job (``Ledger.claim_job_by_id``), runs one step under a renewed lease, and — when
producing left deliveries due — claims it again to send them at once. Whatever the message, the ledger
decides whether there is work; an object a destination accepted is never sent again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import billiard
from celery import Celery
from celery.signals import worker_process_shutdown

from dicom_node.config import Config
from dicom_node.dispatch.celery_app import TASK_NAME, create_celery
from dicom_node.dispatch.job_runner import JobRunner
from dicom_node.dispatch.leases import LeaseKeeper
from dicom_node.dispatch.pipeline_process import PipelineProcess
from dicom_node.ledger import Ledger, open_ledger
from dicom_node.logsetup import get_logger
from dicom_node.storage import Storage

log = get_logger("dicom_node.worker")

MAX_STEPS = 2  # produce, then deliver; a delivery that must wait is resumed by a later message


@dataclass
class WorkerState:
    pid: int
    ledger: Ledger
    runner: JobRunner
    leases: LeaseKeeper
    pipelines: PipelineProcess


_state: WorkerState | None = None


def worker_state(config: Config) -> WorkerState:
    """This process's ledger, runner and pipeline process (built after the pool forked, on first use)."""
    global _state
    if _state is None or _state.pid != os.getpid():
        from dicom_node.wiring import anonymizer_hooks

        storage = Storage(config.storage.path, config.storage.min_free_gb, config.storage.fsync)
        ledger = open_ledger(config.storage.database_url, config.series.late_instances)
        _state = WorkerState(
            pid=os.getpid(),
            ledger=ledger,
            runner=JobRunner(config, storage, ledger, anonymizer_hooks(config)),
            leases=LeaseKeeper(ledger, config.execution.lease_s),
            pipelines=PipelineProcess(billiard.get_context("spawn")),
        )
    return _state


def release_worker_state(**_: Any) -> None:
    """Stop this process's pipeline child and lease heartbeat (Celery's worker_process_shutdown)."""
    global _state
    if _state is not None and _state.pid == os.getpid():
        _state.pipelines.kill()
        _state.leases.stop()
        _state.ledger.close()
    _state = None


def run_job(config: Config, job_id: int, owner: str) -> str:
    """Do the work job ``job_id`` has now; return what happened (for the worker's log)."""
    state = worker_state(config)
    steps = 0
    for _ in range(MAX_STEPS):
        job = state.ledger.claim_job_by_id(job_id, owner, config.execution.lease_s)
        if job is None:
            break
        with state.leases.hold(job_id, owner):
            state.runner.process_safely(job, owner, state.pipelines)
        steps += 1
    if steps == 0:
        return "nothing to do (claimed elsewhere, finished, or not due yet)"
    current = state.ledger.get_job(job_id)
    return f"{steps} step(s); now {current.state if current else 'gone'}"


def create_worker_app(config: Config) -> Celery:
    """The Celery app with the ``run_job`` task registered (what ``dicom-node worker`` runs)."""
    app = create_celery(config)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
    def run_job_task(self: Any, job_id: int) -> str:
        owner = f"celery:{self.request.hostname}:{os.getpid()}"[:128]
        return run_job(config, int(job_id), owner)

    worker_process_shutdown.connect(release_worker_state, weak=False)
    return app
