"""Ledger operations the Celery backend needs: claim one named job, list the jobs that are due.

A Celery message only says "job N may have work": the ledger decides. :meth:`ClaimLedger.claim_job_by_id`
leases that job with a conditional update, so duplicate or stale messages are harmless (the claim fails
and the task ends). A job whose lease expired (its worker died) is taken over directly.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, and_, or_, select, update

from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import DueJob, JobRecord
from dicom_node.ledger.retry import in_transaction

# what a claim turns a state into: queued/produced are due work; running/sending are taken over on expiry
_CLAIMED_STATE = {"queued": "running", "produced": "sending", "running": "running", "sending": "sending"}


class ClaimLedger(LedgerBase):
    def claim_job_by_id(self, job_id: int, owner: str, lease_s: float) -> JobRecord | None:
        """Lease job ``job_id`` if it has due work (or an expired lease); None when it has none now.

        One transaction, run again if it lost a race with another process (see :mod:`.retry`).
        """
        jobs = t.jobs.c

        def claim(conn: Connection) -> JobRecord | None:
            now = time.time()
            row = conn.execute(
                select(jobs.state, jobs.next_attempt_at, jobs.lease_expires_at).where(jobs.id == job_id)
            ).first()
            if row is None:
                return None
            state, next_attempt_at, lease_expires_at = row
            due = state in ("queued", "produced") and next_attempt_at <= now
            expired = (
                state in ("running", "sending") and lease_expires_at is not None and lease_expires_at < now
            )
            if not (due or expired):
                return None
            condition = and_(jobs.id == job_id, jobs.state == state)
            if expired:
                condition = and_(condition, jobs.lease_expires_at < now)
            new_state = _CLAIMED_STATE[state]
            claimed = conn.execute(
                update(t.jobs)
                .where(condition)
                .values(state=new_state, lease_owner=owner, lease_expires_at=now + lease_s, updated_at=now)
            ).rowcount
            if not claimed:
                return None
            how = "took over an expired lease" if expired else "claimed"
            self._event(conn, "state", f"{state} → {new_state} ({how} by {owner})", job_id=job_id)
            claimed_row = conn.execute(select(t.jobs).where(jobs.id == job_id)).mappings().one()
            return JobRecord.from_row(claimed_row)

        return in_transaction(self.engine, claim)

    def due_jobs(self, limit: int = 1000) -> list[DueJob]:
        """Jobs with work to do now: queued or produced and due, or holding an expired lease."""
        now = time.time()
        jobs = t.jobs.c
        query = (
            select(jobs.id, jobs.action, jobs.pipeline, jobs.state, jobs.next_attempt_at)
            .where(
                or_(
                    and_(jobs.state.in_(("queued", "produced")), jobs.next_attempt_at <= now),
                    and_(jobs.state.in_(("running", "sending")), jobs.lease_expires_at < now),
                )
            )
            .order_by(jobs.next_attempt_at, jobs.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [DueJob.from_row(row) for row in conn.execute(query).mappings()]
