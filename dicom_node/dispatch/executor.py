"""The local job executor (``execution.backend: local``): threads that lease jobs from the ledger.

Each thread claims the next due job (``queued → running``, ``produced → sending``) and hands it to the
shared :class:`~dicom_node.dispatch.job_runner.JobRunner` (the Celery task uses the same runner). A crash
at any point leaves a lease that expires (or is taken back at the next start), and the job resumes from its
last recorded state. Each thread keeps its own pipeline child process, so models stay loaded.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import psutil

from dicom_node.config import Config
from dicom_node.dispatch.job_runner import AnonymizerHooks, ForwardTransform, JobRunner
from dicom_node.dispatch.leases import LeaseKeeper
from dicom_node.dispatch.pipeline_process import PipelineProcess
from dicom_node.ledger import Ledger
from dicom_node.logsetup import get_logger
from dicom_node.storage import Storage

__all__ = ["AnonymizerHooks", "Executor", "ForwardTransform", "holder_alive", "owner_prefix"]

log = get_logger("dicom_node.executor")


def owner_prefix(storage: Storage) -> str:
    """Lease owners of this node start with this (host and storage root): see ``recover_leases``."""
    return f"{socket.gethostname()}:{storage.root}:"


def holder_alive(owner: str) -> bool:
    """Whether the local process that holds a lease (``<prefix><pid>.<nonce>:<thread>``) still runs.

    At start a node takes back the leases of its previous process at once; another process with workers
    on the same host and storage keeps its jobs (its pid is alive). An owner without a readable pid (an
    older format) counts as gone, as before.
    """
    try:
        pid = int(owner.rsplit(":", 2)[-2].split(".", 1)[0])
    except (IndexError, ValueError):
        return False
    return pid != os.getpid() and psutil.pid_exists(pid)


class Executor:
    def __init__(
        self,
        config: Config,
        storage: Storage,
        ledger: Ledger,
        anonymizer: AnonymizerHooks | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.ledger = ledger
        self.runner = JobRunner(config, storage, ledger, anonymizer)
        self.leases = LeaseKeeper(ledger, config.execution.lease_s)
        self.owner_base = f"{owner_prefix(storage)}{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.config.execution.workers):
            thread = threading.Thread(target=self._loop, args=(i,), name=f"job-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.leases.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.leases.stop()

    def _loop(self, index: int) -> None:
        owner = f"{self.owner_base}:{index}"
        pipelines = PipelineProcess()
        try:
            while not self._stop.is_set():
                try:
                    job = self.ledger.claim_job(owner, self.config.execution.lease_s)
                except Exception as exc:  # database hiccup: log and try again shortly
                    log.error("claim_failed", error=str(exc))
                    job = None
                if job is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                with self.leases.hold(job.id, owner):
                    self.runner.process_safely(job, owner, pipelines)
        finally:
            pipelines.kill()
