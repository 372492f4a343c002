"""Ledger operations: every state change of instances, series revisions, jobs and deliveries.

Each public method is one transaction. Claims (series completion, job leases) are conditional updates
(``UPDATE ... WHERE state = <expected>``), so several threads or processes sharing the ledger never take
the same work twice, and a holder that crashed is recognised by its expired lease.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.engine import RowMapping

from dicom_node.ledger import schema as t

TERMINAL_STATES = ("delivered", "failed", "discarded")
DISCARDABLE_STATES = ("failed", "queued", "produced")


@dataclass(frozen=True)
class InstanceRecord:
    """What the receiver knows of one stored instance (no PHI)."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    path: str
    size_bytes: int
    frames: int
    calling_ae: str
    modality: str
    series_description: str
    expected_frames: int | None


@dataclass(frozen=True)
class IngestResult:
    series_id: int
    revision: int
    duplicate: bool
    completed: bool
    late: bool


@dataclass(frozen=True)
class DeliverySpec:
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    path: str


class Ledger:
    def __init__(self, engine: Engine, late_instances: str = "reprocess") -> None:
        self.engine = engine
        self.late_instances = late_instances

    # -- events ---------------------------------------------------------------------------------
    @staticmethod
    def _event(
        conn: Connection,
        kind: str,
        message: str,
        *,
        level: str = "info",
        series_id: int | None = None,
        job_id: int | None = None,
    ) -> None:
        conn.execute(
            insert(t.events).values(
                ts=time.time(), level=level, kind=kind, series_id=series_id, job_id=job_id, message=message
            )
        )

    def add_event(self, kind: str, message: str, **kwargs: Any) -> None:
        with self.engine.begin() as conn:
            self._event(conn, kind, message, **kwargs)

    # -- ingest ---------------------------------------------------------------------------------
    def record_instances(self, records: Sequence[InstanceRecord]) -> list[IngestResult]:
        """Record stored instances in one transaction (group commit); returns one result each."""
        now = time.time()
        with self.engine.begin() as conn:
            return [self._record_one(conn, rec, now) for rec in records]

    def _record_one(self, conn: Connection, rec: InstanceRecord, now: float) -> IngestResult:
        existing = conn.execute(
            select(t.instances.c.id, t.instances.c.revision).where(
                t.instances.c.sop_instance_uid == rec.sop_instance_uid
            )
        ).first()
        current = (
            conn.execute(
                select(t.series)
                .where(t.series.c.series_instance_uid == rec.series_instance_uid)
                .order_by(t.series.c.revision.desc())
                .limit(1)
                .with_for_update()
            )
            .mappings()
            .first()
        )
        late = False
        if current is None:
            revision = 1
            series_id = self._open_revision(conn, rec, revision, now, frames=rec.frames)
            counted = True
        elif current["state"] == "receiving":
            revision, series_id = current["revision"], current["id"]
            counted = existing is None or existing.revision != revision
            values: dict[str, Any] = {"last_received_at": now}
            if counted:
                values["instance_count"] = t.series.c.instance_count + 1
                values["frame_count"] = t.series.c.frame_count + rec.frames
            if rec.expected_frames and not current["expected_frames"]:
                values["expected_frames"] = rec.expected_frames
            conn.execute(update(t.series).where(t.series.c.id == series_id).values(**values))
        elif self.late_instances == "ignore":
            late = True
            revision, series_id, counted = current["revision"], current["id"], False
            self._event(
                conn,
                "late-ignored",
                "late instance stored, not reprocessed (series.late_instances: ignore)",
                series_id=series_id,
            )
        else:
            late = True
            revision = current["revision"] + 1
            prior_frames = conn.execute(
                select(func.coalesce(func.sum(t.instances.c.frames), 0)).where(
                    t.instances.c.series_instance_uid == rec.series_instance_uid,
                    t.instances.c.sop_instance_uid != rec.sop_instance_uid,
                )
            ).scalar_one()
            series_id = self._open_revision(conn, rec, revision, now, frames=int(prior_frames) + rec.frames)
            counted = True
            self._event(conn, "revision", f"late instance opened revision {revision}", series_id=series_id)

        if existing is None:
            conn.execute(
                insert(t.instances).values(
                    sop_instance_uid=rec.sop_instance_uid,
                    sop_class_uid=rec.sop_class_uid,
                    series_instance_uid=rec.series_instance_uid,
                    study_instance_uid=rec.study_instance_uid,
                    revision=revision,
                    transfer_syntax_uid=rec.transfer_syntax_uid,
                    path=rec.path,
                    size_bytes=rec.size_bytes,
                    frames=rec.frames,
                    calling_ae=rec.calling_ae,
                    received_at=now,
                    receive_count=1,
                )
            )
        else:
            conn.execute(
                update(t.instances)
                .where(t.instances.c.id == existing.id)
                .values(
                    revision=revision,
                    transfer_syntax_uid=rec.transfer_syntax_uid,
                    path=rec.path,
                    size_bytes=rec.size_bytes,
                    frames=rec.frames,
                    received_at=now,
                    receive_count=t.instances.c.receive_count + 1,
                )
            )

        completed = False
        if counted:
            row = conn.execute(
                select(t.series.c.expected_frames, t.series.c.frame_count, t.series.c.state).where(
                    t.series.c.id == series_id
                )
            ).first()
            if (
                row
                and row.state == "receiving"
                and row.expected_frames
                and row.frame_count >= row.expected_frames
            ):
                completed = self._complete(conn, series_id, now, "expected-count")
        return IngestResult(series_id, revision, existing is not None, completed, late)

    @staticmethod
    def _open_revision(conn: Connection, rec: InstanceRecord, revision: int, now: float, frames: int) -> int:
        result = conn.execute(
            insert(t.series).values(
                series_instance_uid=rec.series_instance_uid,
                study_instance_uid=rec.study_instance_uid,
                revision=revision,
                state="receiving",
                modality=rec.modality[:16],
                series_description=rec.series_description[:128],
                calling_ae=rec.calling_ae,
                instance_count=1,
                frame_count=frames,
                expected_frames=rec.expected_frames,
                first_received_at=now,
                last_received_at=now,
                sample_path=rec.path,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    # -- completion and routing ------------------------------------------------------------------
    def _complete(self, conn: Connection, series_id: int, now: float, reason: str) -> bool:
        claimed = conn.execute(
            update(t.series)
            .where(t.series.c.id == series_id, t.series.c.state == "receiving")
            .values(state="complete", completed_at=now, completion_reason=reason)
        ).rowcount
        if claimed:
            self._event(conn, "complete", f"series revision complete ({reason})", series_id=series_id)
        return bool(claimed)

    def complete_quiet_series(self, quiet_s: float, now: float | None = None) -> list[int]:
        """Mark series revisions that have been quiet for ``quiet_s`` as complete; return their ids."""
        now = time.time() if now is None else now
        cutoff = now - quiet_s
        done: list[int] = []
        with self.engine.begin() as conn:
            ids = conn.execute(
                select(t.series.c.id).where(
                    t.series.c.state == "receiving", t.series.c.last_received_at <= cutoff
                )
            ).scalars()
            for series_id in list(ids):
                claimed = conn.execute(
                    update(t.series)
                    .where(
                        t.series.c.id == series_id,
                        t.series.c.state == "receiving",
                        t.series.c.last_received_at <= cutoff,
                    )
                    .values(state="complete", completed_at=now, completion_reason="quiet-period")
                ).rowcount
                if claimed:
                    self._event(
                        conn, "complete", "series revision complete (quiet period)", series_id=series_id
                    )
                    done.append(series_id)
        return done

    def complete_unrouted(self) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(t.series).where(t.series.c.state == "complete").order_by(t.series.c.id))
                .mappings()
                .all()
            )

    def get_series(self, series_id: int) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.series).where(t.series.c.id == series_id)).mappings().first()

    def series_files(self, series_instance_uid: str, revision: int) -> list[RowMapping]:
        """All instances of a series up to and including ``revision`` (a revision is the whole series)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.instances)
                    .where(
                        t.instances.c.series_instance_uid == series_instance_uid,
                        t.instances.c.revision <= revision,
                    )
                    .order_by(t.instances.c.id)
                )
                .mappings()
                .all()
            )

    def route_series(self, series_id: int, jobs: Iterable[dict[str, Any]], summary: str) -> list[int]:
        """Create the jobs of a complete series and mark it routed, atomically (at most once)."""
        now = time.time()
        created: list[int] = []
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(t.series)
                .where(t.series.c.id == series_id, t.series.c.state == "complete")
                .values(state="routed")
            ).rowcount
            if not claimed:
                return created
            for job in jobs:
                state = "discarded" if job["action"] == "discard" else "queued"
                result = conn.execute(
                    insert(t.jobs).values(
                        series_id=series_id,
                        rule_name=job["rule_name"],
                        action=job["action"],
                        pipeline=job.get("pipeline"),
                        state=state,
                        attempts=0,
                        next_attempt_at=now,
                        ticket=json.dumps(job["ticket"], ensure_ascii=False, sort_keys=True),
                        created_at=now,
                        updated_at=now,
                    )
                )
                job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                created.append(job_id)
                self._event(
                    conn,
                    "job",
                    f"rule {job['rule_name']!r} fired: {state}",
                    series_id=series_id,
                    job_id=job_id,
                )
            self._event(conn, "routed", summary, series_id=series_id)
        return created

    # -- jobs -----------------------------------------------------------------------------------
    def claim_job(
        self, owner: str, lease_s: float, actions: Sequence[str] | None = None
    ) -> RowMapping | None:
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
                    return conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
        return None

    def renew_lease(self, job_id: int, owner: str, lease_s: float) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.jobs)
                    .where(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner)
                    .values(lease_expires_at=time.time() + lease_s)
                ).rowcount
            )

    def recover_leases(self, owner_prefix: str | None = None) -> int:
        """Give back jobs whose holder died: running → queued, sending → produced.

        With ``owner_prefix`` every lease of that prefix is taken back at once (the local backend at start,
        whose previous process is gone); otherwise only expired leases are.
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
                rows = conn.execute(select(t.jobs.c.id).where(t.jobs.c.state == old, stale)).scalars().all()
                for job_id in rows:
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
        """Register what a job produced and must deliver; state → produced (or delivered if nothing)."""
        with self.engine.begin() as conn:
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
    ) -> str:
        """Count a failed delivery attempt; back off, or fail for good after ``max_attempts``.

        ``count_attempt=False`` defers without counting (nothing was tried: the destination is cooling down).
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
                state="produced",
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
            return "produced"

    def job_delivered(self, job_id: int, owner: str) -> None:
        with self.engine.begin() as conn:
            self._set_job(
                conn, job_id, owner, state="delivered", lease_owner=None, lease_expires_at=None, error=None
            )
            self._event(conn, "state", "sending → delivered", job_id=job_id)

    def retry_job(self, job_id: int) -> str:
        """Re-queue a failed job: resend what is undelivered, or run it again if it produced nothing."""
        with self.engine.begin() as conn:
            job = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
            if job is None:
                raise KeyError(job_id)
            if job["state"] != "failed":
                raise ValueError(f"job {job_id} is {job['state']}, only failed jobs can be retried")
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
                raise KeyError(job_id)
            changed = (
                self._set_job(conn, job_id, None, state="discarded", lease_owner=None, lease_expires_at=None)
                if state in DISCARDABLE_STATES
                else False
            )
            if not changed:
                raise ValueError(
                    f"job {job_id} is {state}; only {', '.join(DISCARDABLE_STATES)} jobs can be discarded"
                )
            self._event(
                conn, "discard", f"discarded by an operator ({operator}): {state} → discarded", job_id=job_id
            )
            return "discarded"

    def get_job(self, job_id: int) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()

    def list_jobs(self, state: str | None = None, limit: int = 100) -> list[RowMapping]:
        query = (
            select(t.jobs, t.series.c.series_instance_uid, t.series.c.revision, t.series.c.modality)
            .join(t.series, t.series.c.id == t.jobs.c.series_id)
            .order_by(t.jobs.c.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(t.jobs.c.state == state)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings().all())

    def job_events(self, job_id: int) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(t.events).where(t.events.c.job_id == job_id).order_by(t.events.c.id))
                .mappings()
                .all()
            )

    def open_work(self) -> int:
        """Jobs not yet in a terminal state plus series not yet routed (0 = idle)."""
        with self.engine.connect() as conn:
            jobs = conn.execute(
                select(func.count()).select_from(t.jobs).where(t.jobs.c.state.not_in(TERMINAL_STATES))
            ).scalar_one()
            series = conn.execute(
                select(func.count()).select_from(t.series).where(t.series.c.state != "routed")
            ).scalar_one()
            return int(jobs) + int(series)

    # -- deliveries -----------------------------------------------------------------------------
    def pending_deliveries(self, job_id: int) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.deliveries)
                    .where(t.deliveries.c.job_id == job_id, t.deliveries.c.state == "pending")
                    .order_by(t.deliveries.c.destination, t.deliveries.c.id)
                )
                .mappings()
                .all()
            )

    def deliveries(self, job_id: int) -> list[RowMapping]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.deliveries).where(t.deliveries.c.job_id == job_id).order_by(t.deliveries.c.id)
                )
                .mappings()
                .all()
            )

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

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            out = {
                "instances": conn.execute(select(func.count()).select_from(t.instances)).scalar_one(),
                "series": conn.execute(select(func.count()).select_from(t.series)).scalar_one(),
            }
            for state, n in conn.execute(select(t.jobs.c.state, func.count()).group_by(t.jobs.c.state)).all():
                out[f"jobs_{state}"] = n
            delivered = conn.execute(
                select(func.count()).select_from(t.deliveries).where(t.deliveries.c.state == "delivered")
            ).scalar_one()
            out["objects_delivered"] = delivered
            return {k: int(v) for k, v in out.items()}
