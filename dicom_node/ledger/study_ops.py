"""Ledger operations of rules on whole studies: the studies still to decide, their series, the decision
(with its job) recorded once per (study, rule)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import NewJob, SeriesRecord, StudyDecision


class StudyLedger(LedgerBase):
    def studies_to_decide(self, rule_name: str, since: float) -> list[str]:
        """Studies with an instance received since ``since`` that ``rule_name`` has not decided yet."""
        decided = select(t.study_decisions.c.study_instance_uid).where(
            t.study_decisions.c.rule_name == rule_name
        )
        query = (
            select(t.series.c.study_instance_uid)
            .where(t.series.c.last_received_at >= since, t.series.c.study_instance_uid.not_in(decided))
            .group_by(t.series.c.study_instance_uid)
            .order_by(func.min(t.series.c.id))
        )
        with self.engine.connect() as conn:
            return [str(uid) for uid in conn.execute(query).scalars()]

    def study_of_series(self, series_instance_uid: str) -> str | None:
        """The Study Instance UID of a stored series (None: no instance of it is stored)."""
        query = select(t.instances.c.study_instance_uid).where(
            t.instances.c.series_instance_uid == series_instance_uid
        )
        with self.engine.connect() as conn:
            value = conn.execute(query.limit(1)).scalar()
        return None if value is None else str(value)

    def study_objects_of_classes(
        self, study_instance_uid: str, sop_classes: Iterable[str], except_series: str
    ) -> list[str]:
        """Relative paths of the study's instances of ``sop_classes`` in series other than
        ``except_series``, in the order they were first stored."""
        query = (
            select(t.instances.c.path)
            .where(
                t.instances.c.study_instance_uid == study_instance_uid,
                t.instances.c.series_instance_uid != except_series,
                t.instances.c.sop_class_uid.in_(sorted(sop_classes)),
            )
            .order_by(t.instances.c.id)
        )
        with self.engine.connect() as conn:
            return [str(p) for p in conn.execute(query).scalars()]

    def series_sop_instance_uids(self, series_instance_uid: str) -> set[str]:
        """The SOP Instance UIDs stored for a series (every revision)."""
        query = select(t.instances.c.sop_instance_uid).where(
            t.instances.c.series_instance_uid == series_instance_uid
        )
        with self.engine.connect() as conn:
            return {str(u) for u in conn.execute(query).scalars()}

    def study_series(self, study_instance_uid: str) -> list[SeriesRecord]:
        """The newest revision of every series of the study."""
        newest = (
            select(t.series.c.series_instance_uid, func.max(t.series.c.revision).label("revision"))
            .where(t.series.c.study_instance_uid == study_instance_uid)
            .group_by(t.series.c.series_instance_uid)
            .subquery()
        )
        query = (
            select(t.series)
            .join(
                newest,
                (t.series.c.series_instance_uid == newest.c.series_instance_uid)
                & (t.series.c.revision == newest.c.revision),
            )
            .order_by(t.series.c.id)
        )
        with self.engine.connect() as conn:
            return [SeriesRecord.from_row(row) for row in conn.execute(query).mappings()]

    def decide_study(
        self,
        study_instance_uid: str,
        rule_name: str,
        decision: str,
        roles: Mapping[str, str],
        message: str,
        anchor_series_id: int,
        job: NewJob | None = None,
    ) -> int | None:
        """Record the decision (and create its job) once; returns the job id (None: no job, or decided
        already by another scheduler)."""
        now = time.time()
        try:
            with self.engine.begin() as conn:
                job_id: int | None = None
                if job is not None:
                    result = conn.execute(
                        insert(t.jobs).values(
                            series_id=anchor_series_id,
                            rule_name=rule_name,
                            action=job.action,
                            pipeline=job.pipeline,
                            state="queued",
                            attempts=0,
                            next_attempt_at=now,
                            ticket=job.ticket.to_json(),
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    job_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                conn.execute(
                    insert(t.study_decisions).values(
                        study_instance_uid=study_instance_uid,
                        rule_name=rule_name,
                        decision=decision,
                        job_id=job_id,
                        roles=json.dumps(dict(roles), sort_keys=True),
                        decided_at=now,
                    )
                )
                self._event(conn, "study", message, series_id=anchor_series_id, job_id=job_id)
                return job_id
        except IntegrityError:
            return None

    def study_decisions(self, study_instance_uid: str) -> list[StudyDecision]:
        query = (
            select(t.study_decisions)
            .where(t.study_decisions.c.study_instance_uid == study_instance_uid)
            .order_by(t.study_decisions.c.id)
        )
        with self.engine.connect() as conn:
            return [StudyDecision.from_row(row) for row in conn.execute(query).mappings()]
