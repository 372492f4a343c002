"""Ledger operations on instances and series revisions: ingest, completion, routing.

Claims are conditional updates (``UPDATE ... WHERE state = <expected>``), so several threads or processes
sharing the ledger never complete or route the same series revision twice. Recording an instance first
locks its series' newest revision (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a
time), so instances of one series arriving at several receivers are counted one after another; two
receivers opening the same new series at once collide on the unique revision and the loser runs its
transaction again (:mod:`.retry`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import NewJob, SeriesRecord, StoredInstance
from dicom_node.ledger.retry import in_transaction

# The statements of the ingest path, built once: each instance runs five of them, and building and
# caching a statement again per instance cost more than running it.
_CURRENT_REVISION = (
    select(t.series.c.id, t.series.c.revision, t.series.c.state, t.series.c.expected_frames)
    .where(t.series.c.series_instance_uid == bindparam("p_uid"))
    .order_by(t.series.c.revision.desc())
    .limit(1)
    .with_for_update()
)
_EXISTING_INSTANCE = select(t.instances.c.id, t.instances.c.revision).where(
    t.instances.c.sop_instance_uid == bindparam("p_uid")
)
_UPDATE_RECEIVING = (
    update(t.series)
    .where(t.series.c.id == bindparam("p_id"))
    .values(
        last_received_at=bindparam("p_now"),
        instance_count=t.series.c.instance_count + bindparam("p_count"),
        frame_count=t.series.c.frame_count + bindparam("p_frames"),
    )
)
_UPDATE_RECEIVING_EXPECTED = _UPDATE_RECEIVING.values(expected_frames=bindparam("p_expected"))
_REVISION_PROGRESS = select(t.series.c.expected_frames, t.series.c.frame_count, t.series.c.state).where(
    t.series.c.id == bindparam("p_id")
)
_INSERT_INSTANCE = insert(t.instances)
_UPDATE_INSTANCE = (
    update(t.instances)
    .where(t.instances.c.id == bindparam("p_id"))
    .values(
        revision=bindparam("p_revision"),
        transfer_syntax_uid=bindparam("p_transfer_syntax_uid"),
        path=bindparam("p_path"),
        size_bytes=bindparam("p_size_bytes"),
        frames=bindparam("p_frames"),
        received_at=bindparam("p_now"),
        receive_count=t.instances.c.receive_count + 1,
    )
)


class _NewInstances:
    """Instance rows of one batch, inserted together (one statement for the batch, not one each)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.uids: set[str] = set()

    def __contains__(self, sop_instance_uid: str) -> bool:
        return sop_instance_uid in self.uids

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.uids.add(row["sop_instance_uid"])

    def flush(self, conn: Connection) -> None:
        if self.rows:
            conn.execute(_INSERT_INSTANCE, self.rows)
            self.rows, self.uids = [], set()


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


class SeriesLedger(LedgerBase):
    # -- ingest ---------------------------------------------------------------------------------
    def record_instances(self, records: Sequence[InstanceRecord]) -> list[IngestResult]:
        """Record stored instances in one transaction (group commit); returns one result each."""
        # One lock order for every transaction (series, then instance): concurrent batches never deadlock.
        order = sorted(
            range(len(records)),
            key=lambda i: (records[i].series_instance_uid, records[i].sop_instance_uid),
        )

        def record(conn: Connection) -> list[IngestResult]:
            now = time.time()
            new_instances = _NewInstances()
            results = {i: self._record_one(conn, records[i], now, new_instances) for i in order}
            new_instances.flush(conn)
            return [results[i] for i in range(len(records))]

        return in_transaction(self.engine, record)

    def _record_one(
        self, conn: Connection, rec: InstanceRecord, now: float, new_instances: _NewInstances
    ) -> IngestResult:
        current = conn.execute(_CURRENT_REVISION, {"p_uid": rec.series_instance_uid}).first()
        if rec.sop_instance_uid in new_instances:  # sent twice in one batch: the first must be visible
            new_instances.flush(conn)
        # Read after the series lock: an instance another receiver recorded meanwhile is seen here.
        existing = conn.execute(_EXISTING_INSTANCE, {"p_uid": rec.sop_instance_uid}).first()
        late = False
        if current is None:
            revision = 1
            series_id = self._open_revision(conn, rec, revision, now, frames=rec.frames)
            counted = True
        elif current.state == "receiving":
            revision, series_id = current.revision, current.id
            counted = existing is None or existing.revision != revision
            params = {
                "p_id": series_id,
                "p_now": now,
                "p_count": 1 if counted else 0,
                "p_frames": rec.frames if counted else 0,
            }
            if rec.expected_frames and not current.expected_frames:
                conn.execute(_UPDATE_RECEIVING_EXPECTED, {**params, "p_expected": rec.expected_frames})
            else:
                conn.execute(_UPDATE_RECEIVING, params)
        elif self.late_instances == "ignore":
            late = True
            revision, series_id, counted = current.revision, current.id, False
            self._event(
                conn,
                "late-ignored",
                "late instance stored, not reprocessed (series.late_instances: ignore)",
                series_id=series_id,
            )
        else:
            late = True
            revision = current.revision + 1
            new_instances.flush(conn)  # the sum below counts every instance recorded so far
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
            new_instances.add(
                {
                    "sop_instance_uid": rec.sop_instance_uid,
                    "sop_class_uid": rec.sop_class_uid,
                    "series_instance_uid": rec.series_instance_uid,
                    "study_instance_uid": rec.study_instance_uid,
                    "revision": revision,
                    "transfer_syntax_uid": rec.transfer_syntax_uid,
                    "path": rec.path,
                    "size_bytes": rec.size_bytes,
                    "frames": rec.frames,
                    "calling_ae": rec.calling_ae,
                    "received_at": now,
                    "receive_count": 1,
                }
            )
        else:
            conn.execute(
                _UPDATE_INSTANCE,
                {
                    "p_id": existing.id,
                    "p_revision": revision,
                    "p_transfer_syntax_uid": rec.transfer_syntax_uid,
                    "p_path": rec.path,
                    "p_size_bytes": rec.size_bytes,
                    "p_frames": rec.frames,
                    "p_now": now,
                },
            )

        completed = False
        if counted:
            # read again after the writes: on SQLite the reads above may precede the write transaction
            row = conn.execute(_REVISION_PROGRESS, {"p_id": series_id}).first()
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

    def complete_quiet_series(
        self, quiet_s: float, now: float | None = None, exclude_aes: Sequence[str] = ()
    ) -> list[int]:
        """Mark series revisions that have been quiet for ``quiet_s`` as complete; return their ids.
        Series from ``exclude_aes`` (archives asked to confirm completeness) are left to the confirmer."""
        now = time.time() if now is None else now
        cutoff = now - quiet_s

        def complete(conn: Connection) -> list[int]:
            done: list[int] = []
            quiet = select(t.series.c.id).where(
                t.series.c.state == "receiving", t.series.c.last_received_at <= cutoff
            )
            if exclude_aes:
                quiet = quiet.where(t.series.c.calling_ae.not_in(list(exclude_aes)))
            ids = conn.execute(quiet.order_by(t.series.c.id)).scalars()  # one lock order for all
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

        return in_transaction(self.engine, complete)

    def complete_unrouted(self) -> list[SeriesRecord]:
        query = select(t.series).where(t.series.c.state == "complete").order_by(t.series.c.id)
        with self.engine.connect() as conn:
            return [SeriesRecord.from_row(row) for row in conn.execute(query).mappings()]

    def get_series(self, series_id: int) -> SeriesRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.series).where(t.series.c.id == series_id)).mappings().first()
        return None if row is None else SeriesRecord.from_row(row)

    def series_files(self, series_instance_uid: str, revision: int) -> list[StoredInstance]:
        """All instances of a series up to and including ``revision`` (a revision is the whole series)."""
        query = (
            select(t.instances)
            .where(
                t.instances.c.series_instance_uid == series_instance_uid,
                t.instances.c.revision <= revision,
            )
            .order_by(t.instances.c.id)
        )
        with self.engine.connect() as conn:
            return [StoredInstance.from_row(row) for row in conn.execute(query).mappings()]

    def route_series(self, series_id: int, jobs: Iterable[NewJob], summary: str) -> list[int]:
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
                state = "discarded" if job.action == "discard" else "queued"
                result = conn.execute(
                    insert(t.jobs).values(
                        series_id=series_id,
                        rule_name=job.rule_name,
                        action=job.action,
                        pipeline=job.pipeline,
                        state=state,
                        attempts=0,
                        next_attempt_at=now,
                        ticket=job.ticket.to_json(),
                        created_at=now,
                        updated_at=now,
                    )
                )
                job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                created.append(job_id)
                self._event(
                    conn,
                    "job",
                    f"rule {job.rule_name!r} fired: {state}",
                    series_id=series_id,
                    job_id=job_id,
                )
            self._event(conn, "routed", summary, series_id=series_id)
        return created
