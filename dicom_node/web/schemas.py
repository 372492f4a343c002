"""REST response models: the published OpenAPI schema (no PHI fields unless ``web.show_phi``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class JobBrief(BaseModel):
    id: int
    rule_name: str
    state: str
    pipeline: str | None = None


class Patient(BaseModel):
    PatientName: str
    PatientID: str
    PatientBirthDate: str


class SeriesOut(BaseModel):
    id: int
    series_instance_uid: str
    study_instance_uid: str
    revision: int
    state: str
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
    archive_count: int | None = None
    completion_queries: int = 0
    accession_pseudonym: str
    patient: Patient | None = None
    jobs: list[JobBrief] = []


class JobOut(BaseModel):
    id: int
    series_id: int
    rule_name: str
    action: str
    pipeline: str | None
    state: str
    attempts: int
    next_attempt_at: float
    lease_owner: str | None
    lease_expires_at: float | None
    error: str | None
    created_at: float
    updated_at: float
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    revision: int | None = None
    modality: str | None = None


class EventOut(BaseModel):
    id: int
    ts: float
    level: str
    kind: str
    series_id: int | None
    job_id: int | None
    message: str


class DeliveryOut(BaseModel):
    id: int
    job_id: int
    destination: str
    sop_instance_uid: str
    sop_class_uid: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: float | None
    commitment: str | None = None  # storage commitment: requested | committed (None: not asked)
    committed_at: float | None = None


class RevisionOut(BaseModel):
    id: int
    revision: int
    state: str


class SeriesDetail(BaseModel):
    series: SeriesOut
    jobs: list[JobOut]
    events: list[EventOut]
    revisions: list[RevisionOut]


class SeriesRef(BaseModel):
    id: int
    series_instance_uid: str
    revision: int
    modality: str


class PriorsSummary(BaseModel):
    """A rule with priors: the archive asked, C-FIND queries made, priors retrieved and already held."""

    archive: str | None
    queries: int
    retrieved: int
    held: int


class JobDetail(BaseModel):
    job: JobOut
    ticket: dict[str, Any]
    series: SeriesRef
    priors: PriorsSummary | None = None
    events: list[EventOut]
    deliveries: list[DeliveryOut]
    log_lines: list[str]


class ActionResult(BaseModel):
    job_id: int
    state: str


class HourBucket(BaseModel):
    hour_start: float
    instances: int
    bytes: int


class Overview(BaseModel):
    counts: dict[str, int]
    archive: dict[str, int] = {}  # queries made, priors retrieved / held, early completions
    queue: dict[str, int]
    received_last_hour: int
    throughput: list[HourBucket]
    failures_last_hour: list[EventOut]
    active_associations: int
    storage_free_bytes: int
    recent_series: list[SeriesOut]
    recent_jobs: list[JobOut]


class RuleOut(BaseModel):
    name: str
    action: str
    match: dict[str, Any]
    pipeline: str | None
    send_to: list[str]
    anonymize: str | None
    deidentify: str | None
    stop: bool
    fallback: bool


class Decision(BaseModel):
    rule: str
    matched: bool
    fired: bool
    action: str
    pipeline: str | None
    send_to: list[str]
    reason: str


class RuleTestOut(BaseModel):
    header: dict[str, str]
    phi_hidden: bool
    decisions: list[Decision]


class DestinationOut(BaseModel):
    name: str
    type: str = "dimse"
    storage_commitment: bool = False
    host: str
    port: int
    ae_title: str
    calling_ae_title: str
    tls: bool
    attempts: int
    failures: int
    delivered: int
    pending: int
    committed: int = 0


class EchoOut(BaseModel):
    destination: str
    ok: bool
    status: int | None
    message: str
    seconds: float


class BatchOut(BaseModel):
    folder: str
    updated_at: float
    counts: dict[str, int]
    top_reasons: list[tuple[str, int]]


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = {}
