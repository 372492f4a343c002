"""Ledger operations of completeness confirmed by query: the series to ask about, what the archive said,
and the completion with the reason (see :mod:`dicom_node.series.confirm`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, update

from dicom_node.ledger import schema as t
from dicom_node.ledger.base import LedgerBase
from dicom_node.ledger.records import SeriesRecord
from dicom_node.ledger.retry import in_transaction

# job timeline events of the priors step (dicom_node.dispatch.priors_step) -> completion_stats keys
_PRIOR_EVENTS = {
    "priors-query": "priors_queries",
    "prior-retrieved": "priors_retrieved",
    "prior-held": "priors_held",
}


class ConfirmLedger(LedgerBase):
    def series_to_confirm(self, calling_aes: Sequence[str], quiet_s: float, now: float) -> list[SeriesRecord]:
        """Receiving series from ``calling_aes`` quiet for ``quiet_s`` whose next query is due."""
        if not calling_aes:
            return []
        s = t.series.c
        query = (
            select(t.series)
            .where(
                s.state == "receiving",
                s.calling_ae.in_(list(calling_aes)),
                s.last_received_at <= now - quiet_s,
                (s.next_query_at.is_(None)) | (s.next_query_at <= now),
            )
            .order_by(s.id)
        )
        with self.engine.connect() as conn:
            return [SeriesRecord.from_row(row) for row in conn.execute(query).mappings()]

    def record_completion_query(
        self, series_id: int, archive_count: int | None, next_query_at: float, message: str | None
    ) -> None:
        """One more query made; the series waits until ``next_query_at`` (``message``: a timeline event)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.series)
                .where(t.series.c.id == series_id)
                .values(
                    archive_count=archive_count,
                    next_query_at=next_query_at,
                    completion_queries=t.series.c.completion_queries + 1,
                )
            )
            if message:
                self._event(conn, "query", message, series_id=series_id)

    def complete_confirmed(
        self,
        series_id: int,
        last_received_at: float,
        reason: str,
        message: str,
        archive_count: int | None,
        now: float | None = None,
    ) -> bool:
        """Complete the revision after a query, unless an instance arrived since it was read."""
        now = time.time() if now is None else now

        def complete(conn: Connection) -> bool:
            claimed = conn.execute(
                update(t.series)
                .where(
                    t.series.c.id == series_id,
                    t.series.c.state == "receiving",
                    t.series.c.last_received_at == last_received_at,
                )
                .values(
                    state="complete",
                    completed_at=now,
                    completion_reason=reason,
                    archive_count=archive_count,
                    completion_queries=t.series.c.completion_queries + 1,
                )
            ).rowcount
            if claimed:
                self._event(conn, "complete", f"series revision complete ({message})", series_id=series_id)
            return bool(claimed)

        return in_transaction(self.engine, complete)

    def completion_stats(self) -> dict[str, int]:
        """Completion queries made, series revisions by how they were judged complete
        (``completed_<reason>``), C-FIND queries made for priors (``priors_queries``) and priors linked into
        jobs (``priors_retrieved``, ``priors_held``)."""
        with self.engine.connect() as conn:
            queries = conn.execute(
                select(func.coalesce(func.sum(t.series.c.completion_queries), 0))
            ).scalar_one()
            out = {"queries": int(queries)}
            rows = conn.execute(
                select(t.series.c.completion_reason, func.count())
                .where(t.series.c.completion_reason.is_not(None))
                .group_by(t.series.c.completion_reason)
            ).all()
            out.update({f"completed_{reason}": int(n) for reason, n in rows})
            priors = conn.execute(
                select(t.events.c.kind, func.count())
                .where(t.events.c.kind.in_(list(_PRIOR_EVENTS)))
                .group_by(t.events.c.kind)
            ).all()
            out.update(dict.fromkeys(_PRIOR_EVENTS.values(), 0))
            out.update({_PRIOR_EVENTS[kind]: int(n) for kind, n in priors})
            return out
