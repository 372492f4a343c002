"""Keep the leases of the jobs a worker holds alive while it works on them (a heartbeat thread).

A worker that dies stops renewing: its leases expire after ``execution.lease_s`` and the job is resumed
by another worker (see ``Ledger.recover_leases`` and the Celery scheduler).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dicom_node.ledger import Ledger
from dicom_node.logsetup import get_logger

log = get_logger("dicom_node.leases")


class LeaseKeeper:
    def __init__(self, ledger: Ledger, lease_s: float) -> None:
        self.ledger = ledger
        self.lease_s = lease_s
        self._held: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, name="job-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @contextmanager
    def hold(self, job_id: int, owner: str) -> Iterator[None]:
        """Renew ``job_id``'s lease (held by ``owner``) until the block ends."""
        self.start()
        with self._lock:
            self._held[job_id] = owner
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(job_id, None)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            with self._lock:
                held = dict(self._held)
            for job_id, owner in held.items():
                try:
                    self.ledger.renew_lease(job_id, owner, self.lease_s)
                except Exception as exc:  # the database may be briefly unavailable: try next beat
                    log.error("lease_renew_failed", job_id=job_id, error=str(exc))
