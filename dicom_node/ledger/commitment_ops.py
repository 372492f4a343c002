"""Ledger operations of storage commitment (PS3.4 Annex J), per delivery.

A delivery to a destination with ``storage_commitment: true`` is *sent* once the destination accepted it
(``state = delivered``) and *committed* once the archive's N-EVENT-REPORT lists it as committed. A request
is recorded (``commitment = requested`` with its Transaction UID) before the N-ACTION goes out, so a report
that comes back at once finds it. An object the report lists as failed goes back to ``pending`` and is
sent again (then committed again); a request that gets no report within the destination's
``commitment_timeout_s`` is asked again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, and_, func, select, update

from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import DeliveryRecord

d = t.deliveries


class CommitmentLedger(LedgerBase):
    def to_commit(self, job_id: int, destination: str, sent_before: float) -> list[DeliveryRecord]:
        """Sent (before ``sent_before``), not yet asked about: what the next request names."""
        query = select(d).where(
            d.c.job_id == job_id,
            d.c.destination == destination,
            d.c.state == "delivered",
            d.c.commitment.is_(None),
            d.c.delivered_at < sent_before,
        )
        with self.engine.connect() as conn:
            return [DeliveryRecord.from_row(row) for row in conn.execute(query).mappings()]

    def commitment_requested(self, delivery_ids: Sequence[int], transaction_uid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(d)
                .where(d.c.id.in_(delivery_ids))
                .values(
                    commitment="requested",
                    transaction_uid=transaction_uid,
                    commitment_requested_at=time.time(),
                )
            )

    def commitment_not_requested(self, transaction_uid: str) -> None:
        """The N-ACTION did not go through: ask again next time."""
        with self.engine.begin() as conn:
            conn.execute(
                update(d)
                .where(d.c.transaction_uid == transaction_uid, d.c.commitment == "requested")
                .values(commitment=None, transaction_uid=None, commitment_requested_at=None)
            )

    def commitment_overdue(self, job_id: int, destination: str, timeout_s: float) -> int:
        """Requests without a report for ``timeout_s``: forgotten, so that they are asked again."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(d)
                .where(
                    d.c.job_id == job_id,
                    d.c.destination == destination,
                    d.c.commitment == "requested",
                    d.c.commitment_requested_at < time.time() - timeout_s,
                )
                .values(commitment=None, transaction_uid=None, commitment_requested_at=None)
            ).rowcount
            if changed:
                self._event(
                    conn,
                    "commitment",
                    f"{destination}: no storage commitment report for {changed} object(s) within "
                    f"{timeout_s:g} s; asking again",
                    level="warning",
                    job_id=job_id,
                )
            return int(changed)

    def awaiting_commitment(self, job_id: int, destination: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(d)
                    .where(
                        d.c.job_id == job_id, d.c.destination == destination, d.c.commitment == "requested"
                    )
                ).scalar_one()
            )

    def awaiting_commitment_total(self, job_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(d)
                    .where(d.c.job_id == job_id, d.c.commitment == "requested")
                ).scalar_one()
            )

    def commitment_report(
        self, transaction_uid: str, committed: Sequence[str], failed: Sequence[tuple[str, int]]
    ) -> tuple[int, int]:
        """Record an N-EVENT-REPORT: committed objects are done, failed ones go back to ``pending`` (sent
        again). Returns (committed, failed) deliveries changed; the jobs concerned are due at once."""
        now = time.time()
        with self.engine.begin() as conn:
            requested = and_(d.c.transaction_uid == transaction_uid, d.c.commitment == "requested")
            rows = conn.execute(select(d.c.id, d.c.job_id, d.c.sop_instance_uid).where(requested)).all()
            by_uid = {uid: (delivery_id, job_id) for delivery_id, job_id, uid in rows}
            done = [by_uid[uid][0] for uid in committed if uid in by_uid]
            if done:
                conn.execute(
                    update(d).where(d.c.id.in_(done)).values(commitment="committed", committed_at=now)
                )
            refused = 0
            for uid, reason in failed:
                if uid not in by_uid:
                    continue
                refused += 1
                conn.execute(
                    update(d)
                    .where(d.c.id == by_uid[uid][0])
                    .values(
                        state="pending",
                        commitment=None,
                        transaction_uid=None,
                        commitment_requested_at=None,
                        last_error=f"storage commitment failed (reason 0x{reason:04X}); sending again",
                    )
                )
            for job_id in sorted({job for _, job in by_uid.values()}):
                self._report_event(conn, job_id, len(done), refused)
            return len(done), refused

    def _report_event(self, conn: Connection, job_id: int, committed: int, failed: int) -> None:
        message = f"storage commitment report: {committed} committed, {failed} failed"
        self._event(conn, "commitment", message, level="warning" if failed else "info", job_id=job_id)
        conn.execute(
            update(t.jobs)
            .where(t.jobs.c.id == job_id, t.jobs.c.state == "produced")
            .values(next_attempt_at=time.time())
        )

    def job_due(self, job_id: int) -> None:
        """Make a job waiting for a commitment report due now (the report came while it was leased)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id, t.jobs.c.state == "produced")
                .values(next_attempt_at=time.time())
            )
