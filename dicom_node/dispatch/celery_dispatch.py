"""The receiver's side of the ``celery`` backend: send a message for every job that has work to do.

Called by the node's scheduler after each completion/routing pass. New jobs, jobs whose retry time has
come and jobs whose holder died (expired lease) are sent to their queue at once; a job still due
``execution.requeue_after_s`` after its message (a message lost with a broker restart, or one still waiting
behind others) is sent again. Duplicates are harmless: the task claims the job by id in the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dicom_node.config import Config
from dicom_node.dispatch.celery_app import TASK_NAME, create_celery
from dicom_node.dispatch.queues import queue_for
from dicom_node.ledger import Ledger
from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.celery_dispatch")


class CeleryDispatcher:
    def __init__(self, config: Config, ledger: Ledger, clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger = ledger
        self.requeue_after_s = config.execution.requeue_after_s
        self.clock = clock
        self.app = create_celery(config)
        # job id -> ((state, next_attempt_at) when last sent, monotonic time sent)
        self._sent: dict[int, tuple[tuple[str, float], float]] = {}

    def enqueue_due(self) -> int:
        """Send messages for due jobs not sent recently in the same state; return how many were sent."""
        now = self.clock()
        due = self.ledger.due_jobs()
        sent = 0
        for job in due:
            key = (job.state, job.next_attempt_at)
            previous = self._sent.get(job.id)
            if previous is not None and previous[0] == key and now - previous[1] < self.requeue_after_s:
                continue
            queue = queue_for(job.action, job.pipeline)
            try:
                self.app.send_task(TASK_NAME, args=[job.id], queue=queue)
            except Exception as exc:  # broker down: the next pass tries again (the URL is never logged)
                log.error("enqueue_failed", job_id=job.id, queue=queue, error=type(exc).__name__)
                break
            self._sent[job.id] = (key, now)
            sent += 1
            log.info("job_enqueued", job_id=job.id, queue=queue, state=job.state)
        due_ids = {job.id for job in due}
        for job_id in [j for j in self._sent if j not in due_ids]:
            del self._sent[job_id]
        return sent

    def close(self) -> None:
        self.app.close()
