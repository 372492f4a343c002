"""The ledger: every state change of instances, series revisions, jobs and deliveries.

Each public method is one transaction. The operations are grouped by what they act on
(:mod:`.series_ops`, :mod:`.job_ops`, ...); :class:`Ledger` is all of them over one engine. What they
read comes back as typed records (:mod:`.records`), the job ticket as :class:`~.ticket.JobTicket`.
"""

from __future__ import annotations

from sqlalchemy import func, select

from dicom_node.ledger import schema as t
from dicom_node.ledger.claim_ops import ClaimLedger
from dicom_node.ledger.commitment_ops import CommitmentLedger
from dicom_node.ledger.confirm_ops import ConfirmLedger
from dicom_node.ledger.job_ops import DISCARDABLE_STATES, TERMINAL_STATES, DeliverySpec, JobLedger
from dicom_node.ledger.series_ops import IngestResult, InstanceRecord, SeriesLedger
from dicom_node.ledger.study_ops import StudyLedger

__all__ = [
    "DISCARDABLE_STATES",
    "TERMINAL_STATES",
    "DeliverySpec",
    "IngestResult",
    "InstanceRecord",
    "Ledger",
]


class Ledger(SeriesLedger, JobLedger, ClaimLedger, CommitmentLedger, ConfirmLedger, StudyLedger):
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
            out["objects_committed"] = conn.execute(
                select(func.count()).select_from(t.deliveries).where(t.deliveries.c.commitment == "committed")
            ).scalar_one()
            return {k: int(v) for k, v in out.items()}
