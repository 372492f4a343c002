"""Ledger operations on jobs and deliveries: leases, state transitions, per-destination delivery state.

A job is claimed by a conditional update and held under a lease; a holder that crashed is recognised by
its expired lease (or, for the local backend, by its owner prefix at the next start).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from dicom_node.errors import JobStateConflict, NotFoundError
from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import DeliveryRecord, EventRecord, JobListing, JobRecord
from dicom_node.ledger.retry import in_transaction

TERMINAL_STATES = ("delivered", "failed", "discarded")
DISCARDABLE_STATES = ("failed", "queued", "produced")


@dataclass(frozen=True)
class DeliverySpec:
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    path: str


class JobLedger(LedgerBase):
    # -- jobs -----------------------------------------------------------------------------------
    def claim_job(self, owner: str, lease_s: float, actions: Sequence[str] | None = None) -> JobRecord | None:
        """Lease the next due job (queued → running, produced → sending); None when nothing is due."""
        now = time.time()
        with self.engine.begin() as conn:
            query = (
                select(t.jobs.c.id, t.jobs.c.state)
                .where(t.jobs.c.state.in_(("queued", "produced")), t.jobs.c.next_attempt_at <= now)
                .order_by(t.jobs.c.next_attempt_at, t.jobs.c.id)
                .limit(8)
            )
            if actions:
                query = query.where(t.jobs.c.action.in_(actions))
            for job_id, state in conn.execute(query).all():
                new_state = "running" if state == "queued" else "sending"
                claimed = conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id, t.jobs.c.state == state)
                    .values(
                        state=new_state, lease_owner=owner, lease_expires_at=now + lease_s, updated_at=now
                    )
                ).rowcount
                if claimed:
                    self._event(conn, "state", f"{state} → {new_state} ({owner})", job_id=job_id)
                    return self._job(conn, job_id)
        return None

    @staticmethod
    def _job(conn: Connection, job_id: int) -> JobRecord | None:
        row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
        return None if row is None else JobRecord.from_row(row)

    def renew_lease(self, job_id: int, owner: str, lease_s: float) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner)
                    .values(lease_expires_at=time.time() + lease_s)
                ).rowcount
            )

    def recover_leases(
        self, owner_prefix: str | None = None, holder_alive: Callable[[str], bool] | None = None
    ) -> int:
        """Give back jobs whose holder died: running → queued, sending → produced.

        With ``owner_prefix`` the leases of that prefix are taken back at once (the local backend at start:
        its previous process is gone), except those whose holder ``holder_alive`` says still runs (another
        process with workers on the same host and storage); otherwise only expired leases are.
        """
        now = time.time()
        recovered = 0
        with self.engine.begin() as conn:
            stale = (
                t.jobs.c.lease_owner.like(f"{owner_prefix}%")
                if owner_prefix
                else t.jobs.c.lease_expires_at < now
            )
            for old, new in (("running", "queued"), ("sending", "produced")):
                rows = conn.execute(
                    select(t.jobs.c.id, t.jobs.c.lease_owner)
                    .where(t.jobs.c.state == old, stale)
                    .order_by(t.jobs.c.id)
                ).all()
                for job_id, holder in rows:
                    if owner_prefix and holder_alive is not None and holder_alive(str(holder)):
                        continue
                    conn.execute(
                        update(t.jobs)
                        .where(t.jobs.c.id == job_id, t.jobs.c.state == old)
                        .values(state=new, lease_owner=None, lease_expires_at=None, next_attempt_at=now)
                    )
                    self._event(
                        conn, "recovered", f"{old} → {new}: the previous holder stopped", job_id=job_id
                    )
                    recovered += 1
        return recovered

    def _set_job(self, conn: Connection, job_id: int, owner: str | None, **values: Any) -> bool:
        condition = t.jobs.c.id == job_id
        if owner is not None:
            condition = and_(condition, t.jobs.c.lease_owner == owner)
        values["updated_at"] = time.time()
        return bool(conn.execute(update(t.jobs).where(condition).values(**values)).rowcount)

    def job_produced(self, job_id: int, owner: str, outputs: Sequence[DeliverySpec], note: str) -> str:
        """Register what a job produced and must deliver; state → produced (or delivered if nothing).

        One delivery row per (job, destination, object): a job run twice (a worker that lost its lease
        and another that took over) registers its outputs once.
        """

        def produced(conn: Connection) -> str:
            for spec in outputs:
                exists = conn.execute(
                    select(t.deliveries.c.id).where(
                        t.deliveries.c.job_id == job_id,
                        t.deliveries.c.destination == spec.destination,
                        t.deliveries.c.sop_instance_uid == spec.sop_instance_uid,
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        insert(t.deliveries).values(
                            job_id=job_id,
                            destination=spec.destination,
                            sop_instance_uid=spec.sop_instance_uid,
                            sop_class_uid=spec.sop_class_uid,
                            path=spec.path,
                            state="pending",
                            attempts=0,
                        )
                    )
            state = "produced" if outputs else "delivered"
            self._set_job(
                conn,
                job_id,
                owner,
                state=state,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=time.time(),
                error=None,
            )
            self._event(conn, "state", f"running → {state}: {note}", job_id=job_id)
            return state

        return in_transaction(self.engine, produced)

    def job_failed(self, job_id: int, owner: str | None, reason: str) -> None:
        with self.engine.begin() as conn:
            self._set_job(
                conn, job_id, owner, state="failed", error=reason, lease_owner=None, lease_expires_at=None
            )
            self._event(conn, "failed", reason, level="error", job_id=job_id)

    def job_retry_later(
        self,
        job_id: int,
        owner: str,
        reason: str,
        delay_s: float,
        max_attempts: int,
        count_attempt: bool = True,
        state: str = "produced",
    ) -> str:
        """Count a failed delivery attempt; back off, or fail for good after ``max_attempts``.

        ``count_attempt=False`` defers without counting (nothing was tried: the destination is cooling down).
        ``state="queued"``: the job is to be produced again (an archive asked for priors did not answer).
        """
        with self.engine.begin() as conn:
            attempts = conn.execute(select(t.jobs.c.attempts).where(t.jobs.c.id == job_id)).scalar_one()
            attempts += 1 if count_attempt else 0
            if count_attempt and attempts >= max_attempts:
                self._set_job(
                    conn,
                    job_id,
                    owner,
                    state="failed",
                    attempts=attempts,
                    lease_owner=None,
                    lease_expires_at=None,
                    error=f"gave up after {attempts} attempts: {reason}",
                )
                self._event(
                    conn,
                    "failed",
                    f"gave up after {attempts} attempts: {reason}",
                    level="error",
                    job_id=job_id,
                )
                return "failed"
            self._set_job(
                conn,
                job_id,
                owner,
                state=state,
                attempts=attempts,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=time.time() + delay_s,
                error=reason,
            )
            self._event(
                conn,
                "retry",
                (f"attempt {attempts} failed" if count_attempt else "deferred")
                + f": {reason}; next in {delay_s:.1f} s",
                level="warning",
                job_id=job_id,
            )
            return state

    def job_delivered(self, job_id: int, owner: str) -> None:
        with self.engine.begin() as conn:
            self._set_job(
                conn, job_id, owner, state="delivered", lease_owner=None, lease_expires_at=None, error=None
            )
            self._event(conn, "state", "sending → delivered", job_id=job_id)

    def retry_job(self, job_id: int) -> str:
        """Re-queue a failed job: resend what is undelivered, or run it again if it produced nothing."""
        with self.engine.begin() as conn:
            job = self._job(conn, job_id)
            if job is None:
                raise NotFoundError("job", job_id)
            if job.state != "failed":
                raise JobStateConflict(f"job {job_id} is {job.state}, only failed jobs can be retried")
            has_outputs = conn.execute(
                select(t.deliveries.c.id).where(t.deliveries.c.job_id == job_id)
            ).first()
            state = "produced" if has_outputs else "queued"
            self._set_job(conn, job_id, None, state=state, attempts=0, next_attempt_at=time.time())
            self._event(conn, "retry", f"retried by an operator: failed → {state}", job_id=job_id)
            return state

    def discard_job(self, job_id: int, operator: str) -> str:
        """Discard a job nobody works on (failed, queued or produced): nothing more is sent for it."""
        with self.engine.begin() as conn:
            state = conn.execute(select(t.jobs.c.state).where(t.jobs.c.id == job_id)).scalar_one_or_none()
            if state is None:
                raise NotFoundError("job", job_id)
            changed = (
                self._set_job(conn, job_id, None, state="discarded", lease_owner=None, lease_expires_at=None)
                if state in DISCARDABLE_STATES
                else False
            )
            if not changed:
                raise JobStateConflict(
                    f"job {job_id} is {state}; only {', '.join(DISCARDABLE_STATES)} jobs can be discarded"
                )
            self._event(
                conn, "discard", f"discarded by an operator ({operator}): {state} → discarded", job_id=job_id
            )
            return "discarded"

    def get_job(self, job_id: int) -> JobRecord | None:
        with self.engine.connect() as conn:
            return self._job(conn, job_id)

    def list_jobs(self, state: str | None = None, limit: int = 100) -> list[JobListing]:
        query = (
            select(
                t.jobs,
                t.series.c.series_instance_uid,
                t.series.c.revision,
                t.series.c.modality,
                t.series.c.completion_reason,
            )
            .join(t.series, t.series.c.id == t.jobs.c.series_id)
            .order_by(t.jobs.c.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(t.jobs.c.state == state)
        with self.engine.connect() as conn:
            return [JobListing.from_row(row) for row in conn.execute(query).mappings()]

    def job_events(self, job_id: int) -> list[EventRecord]:
        query = select(t.events).where(t.events.c.job_id == job_id).order_by(t.events.c.id)
        with self.engine.connect() as conn:
            return [EventRecord.from_row(row) for row in conn.execute(query).mappings()]

    # -- deliveries -----------------------------------------------------------------------------
    def pending_deliveries(self, job_id: int) -> list[DeliveryRecord]:
        query = (
            select(t.deliveries)
            .where(t.deliveries.c.job_id == job_id, t.deliveries.c.state == "pending")
            .order_by(t.deliveries.c.destination, t.deliveries.c.id)
        )
        with self.engine.connect() as conn:
            return [DeliveryRecord.from_row(row) for row in conn.execute(query).mappings()]

    def deliveries(self, job_id: int) -> list[DeliveryRecord]:
        query = select(t.deliveries).where(t.deliveries.c.job_id == job_id).order_by(t.deliveries.c.id)
        with self.engine.connect() as conn:
            return [DeliveryRecord.from_row(row) for row in conn.execute(query).mappings()]

    def delivery_result(self, delivery_id: int, status: int | None, error: str | None) -> None:
        """Record one C-STORE outcome: success statuses mark the object delivered (never sent again)."""
        delivered = status is not None and (status == 0 or (status & 0xF000) == 0xB000)
        values: dict[str, Any] = {
            "attempts": t.deliveries.c.attempts + 1,
            "last_status": status,
            "last_error": error,
        }
        if delivered:
            values.update(state="delivered", delivered_at=time.time())
        with self.engine.begin() as conn:
            conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.id == delivery_id, t.deliveries.c.state == "pending")
                .values(**values)
            )
