"""The ledger: what arrived, what is complete, which jobs run, what each destination accepted."""

from __future__ import annotations

from dicom_node.ledger.database import create_ledger_engine, migrate
from dicom_node.ledger.ledger import DeliverySpec, IngestResult, InstanceRecord, Ledger
from dicom_node.ledger.records import (
    DeliveryRecord,
    DueJob,
    EventRecord,
    JobListing,
    JobRecord,
    NewJob,
    SeriesRecord,
    StoredInstance,
    StudyDecision,
)
from dicom_node.ledger.ticket import JobTicket, StudySeriesRef


def open_ledger(url: str, late_instances: str = "reprocess") -> Ledger:
    """Connect, bring the schema up to date, and return the ledger."""
    engine = create_ledger_engine(url)
    migrate(engine)
    return Ledger(engine, late_instances=late_instances)


__all__ = [
    "DeliveryRecord",
    "DeliverySpec",
    "DueJob",
    "EventRecord",
    "IngestResult",
    "InstanceRecord",
    "JobListing",
    "JobRecord",
    "JobTicket",
    "Ledger",
    "NewJob",
    "SeriesRecord",
    "StoredInstance",
    "StudyDecision",
    "StudySeriesRef",
    "open_ledger",
]
