"""The Celery application of the ``celery`` backend: transport only, the ledger stays the truth.

A message ``dicom_node.run_job(job_id)`` on the job's queue (one per pipeline, ``forward`` for
forwarding) wakes a worker; the worker claims that job in the ledger with a conditional update, so
duplicate, late or redelivered messages are harmless. Imported only when ``execution.backend`` is
``celery``.

Reliability settings: tasks are acknowledged late (after they ran) and rejected back to the queue when
the worker process running them is lost (``task_reject_on_worker_lost``); each worker process prefetches
one message at a time. On Redis an unacknowledged message (its worker was killed with everything around
it) comes back after ``execution.visibility_timeout_s``; long before that, the job's ledger lease expires
and the receivers' scheduler sends a fresh message (``execution.requeue_after_s``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from dicom_node.config import Config
from dicom_node.dispatch.queues import FORWARD_QUEUE

TASK_NAME = "dicom_node.run_job"


def broker_url(config: Config) -> str:
    if config.execution.broker is None:  # validated at start; kept for type narrowing
        raise ValueError("execution.broker is not set")
    return config.execution.broker.get_secret_value()


def create_celery(config: Config) -> Celery:
    """A Celery app bound to ``execution.broker`` with at-least-once delivery of job messages."""
    execution = config.execution
    transport: dict[str, Any] = {"visibility_timeout": execution.visibility_timeout_s}
    app = Celery("dicom_node", broker=broker_url(config), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=FORWARD_QUEUE,
        task_create_missing_queues=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app
