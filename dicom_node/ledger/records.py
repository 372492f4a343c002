"""Typed records of what the ledger holds, as the rest of the node sees it.

Every ledger read returns one of these frozen dataclasses, built from its row in one place
(:meth:`from_row`); callers use attributes, never column names as strings. A record's fields are its
table's columns in table order, so :meth:`as_dict` is exactly the row as a dict (what the CLI's
``--json`` prints). The job ticket is a typed model of its own (:mod:`dicom_node.ledger.ticket`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from dicom_node.ledger.ticket import JobTicket

R = TypeVar("R", bound="Record")


@dataclass(frozen=True, slots=True)
class Record:
    """Base of the ledger's records: built from a row, given back as a dict."""

    @classmethod
    def from_row(cls: type[R], row: Mapping[Any, Any]) -> R:
        """The record of a row that holds (at least) every one of its fields."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SeriesRecord(Record):
    """One series revision (table ``series``)."""

    id: int
    series_instance_uid: str
    study_instance_uid: str
    revision: int
    state: str  # receiving | complete | routed
    modality: str
    series_description: str
    calling_ae: str
    instance_count: int
    frame_count: int
    expected_frames: int | None
    first_received_at: float
    last_received_at: float
    completed_at: float | None
    completion_reason: str | None
    sample_path: str
    archive_count: int | None
    completion_queries: int
    next_query_at: float | None


@dataclass(frozen=True, slots=True)
class StoredInstance(Record):
    """One stored instance (table ``instances``); ``path`` is relative to the storage root."""

    id: int
    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    revision: int
    transfer_syntax_uid: str
    path: str
    size_bytes: int
    frames: int
    calling_ae: str
    received_at: float
    receive_count: int


@dataclass(frozen=True, slots=True)
class JobRecord(Record):
    """One job (table ``jobs``). ``ticket`` is the stored JSON text; :meth:`read_ticket` validates it."""

    id: int
    series_id: int
    rule_name: str
    action: str  # pipeline | forward | discard
    pipeline: str | None
    state: str
    attempts: int
    next_attempt_at: float
    lease_owner: str | None
    lease_expires_at: float | None
    error: str | None
    ticket: str
    created_at: float
    updated_at: float

    def read_ticket(self) -> JobTicket:
        """The job's ticket, validated (:class:`~dicom_node.errors.TicketError` when it is not one)."""
        return JobTicket.from_json(self.ticket, job_id=self.id)

    def ticket_snapshot(self) -> dict[str, Any]:
        """The ticket as stored, for display (``{}`` when it is not JSON)."""
        try:
            value = json.loads(self.ticket)
        except (TypeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class JobListing(JobRecord):
    """A job with its series' UID, revision, modality and completion reason (job lists)."""

    series_instance_uid: str
    revision: int
    modality: str
    completion_reason: str | None


@dataclass(frozen=True, slots=True)
class DueJob(Record):
    """A job with work to do now (what the Celery dispatcher enqueues)."""

    id: int
    action: str
    pipeline: str | None
    state: str
    next_attempt_at: float


@dataclass(frozen=True, slots=True)
class DeliveryRecord(Record):
    """One output object for one destination (table ``deliveries``)."""

    id: int
    job_id: int
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    path: str
    state: str  # pending | delivered
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: float | None
    commitment: str | None  # None | requested | committed
    transaction_uid: str | None
    commitment_requested_at: float | None
    committed_at: float | None


@dataclass(frozen=True, slots=True)
class EventRecord(Record):
    """One audit event (table ``events``; no PHI)."""

    id: int
    ts: float
    level: str
    kind: str
    series_id: int | None
    job_id: int | None
    message: str


@dataclass(frozen=True, slots=True)
class StudyDecision(Record):
    """What a study rule decided for a study (table ``study_decisions``); ``roles`` is JSON text."""

    id: int
    study_instance_uid: str
    rule_name: str
    decision: str  # fired | processed-incomplete | discarded
    job_id: int | None
    roles: str
    decided_at: float

    def role_uids(self) -> dict[str, str]:
        """Role → Series Instance UID of the roles that were present."""
        value = json.loads(self.roles)
        return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job a rule creates: what :meth:`route_series` and :meth:`decide_study` insert."""

    rule_name: str
    action: str
    pipeline: str | None
    ticket: JobTicket
