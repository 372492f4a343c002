"""Ledger tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create exactly these.

Times are UNIX seconds (float; double precision on PostgreSQL) so SQLite and PostgreSQL compare them the
same way. Paths and lease owners are unbounded text: PostgreSQL enforces declared lengths, SQLite does not,
and a long ``storage.path`` must not make a write fail on one database only. UIDs are at most 64 characters
(PS3.5); the receiver refuses longer ones before they reach the ledger.

- ``series``: one row per series *revision*. Revision 1 is opened by the first instance; an instance
  arriving after its revision was handed on opens revision n+1 (processed again, or ignored by config).
  ``completion_reason`` says how it was judged complete: ``quiet-period``, ``expected-count`` (headers),
  or, for series from an archive that is asked (:mod:`dicom_node.series.confirm`), ``count-matched``,
  ``count-matched-early``, ``query-wait-exceeded``, ``query-failed``, ``not-in-archive``.
- ``instances``: one row per SOP Instance UID (a duplicate replaces the file and is counted once).
- ``jobs``: one per (series revision, rule), with a lease so that a crashed holder is detected.
- ``deliveries``: one per (job, destination, output object): what a destination has accepted, and for
  destinations with storage commitment, whether the archive has committed to keep it.
- ``study_decisions``: what a study rule decided for a study (fired, processed incomplete, discarded).
- ``events``: the audit trail shown to administrators (no PHI).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UID = String(64)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("series_instance_uid", UID, nullable=False),
    Column("study_instance_uid", UID, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # receiving | complete | routed
    Column("modality", String(16), nullable=False, default=""),
    Column("series_description", String(128), nullable=False, default=""),
    Column("calling_ae", String(16), nullable=False, default=""),
    Column("instance_count", Integer, nullable=False, default=0),
    Column("frame_count", Integer, nullable=False, default=0),
    Column("expected_frames", Integer, nullable=True),
    Column("first_received_at", Float, nullable=False),
    Column("last_received_at", Float, nullable=False),
    Column("completed_at", Float, nullable=True),
    Column("completion_reason", String(32), nullable=True),
    Column("sample_path", Text, nullable=False),
    # completeness confirmed by query (destinations with query.confirm_completion): the archive's count
    Column("archive_count", Integer, nullable=True),
    Column("completion_queries", Integer, nullable=False, server_default="0"),
    Column("next_query_at", Float, nullable=True),
    UniqueConstraint("series_instance_uid", "revision", name="uq_series_uid_revision"),
)
Index("ix_series_state_last", series.c.state, series.c.last_received_at)

instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sop_instance_uid", UID, nullable=False, unique=True),
    Column("sop_class_uid", UID, nullable=False),
    Column("series_instance_uid", UID, nullable=False, index=True),
    Column("study_instance_uid", UID, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("transfer_syntax_uid", UID, nullable=False),
    Column("path", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("frames", Integer, nullable=False, default=1),
    Column("calling_ae", String(16), nullable=False, default=""),
    Column("received_at", Float, nullable=False),
    Column("receive_count", Integer, nullable=False, default=1),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("series_id", Integer, ForeignKey("series.id"), nullable=False),
    Column("rule_name", String(128), nullable=False),
    Column("action", String(16), nullable=False),  # pipeline | forward | discard
    Column("pipeline", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_owner", Text, nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("ticket", Text, nullable=False),  # JSON snapshot: rule, destinations, decision reasons
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("series_id", "rule_name", name="uq_jobs_series_rule"),
)
Index("ix_jobs_state_next", jobs.c.state, jobs.c.next_attempt_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False, index=True),
    Column("destination", String(64), nullable=False),
    Column("sop_instance_uid", UID, nullable=False),
    Column("sop_class_uid", UID, nullable=False),
    Column("path", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", Float, nullable=True),
    # storage commitment (destinations with storage_commitment: true): NULL | requested | committed
    Column("commitment", String(16), nullable=True),
    Column("transaction_uid", UID, nullable=True, index=True),
    Column("commitment_requested_at", Float, nullable=True),
    Column("committed_at", Float, nullable=True),
    UniqueConstraint("job_id", "destination", "sop_instance_uid", name="uq_deliveries_job_dest_sop"),
)

study_decisions = Table(  # rules on whole studies: decided once per (study, rule)
    "study_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_instance_uid", UID, nullable=False),
    Column("rule_name", String(128), nullable=False),
    Column("decision", String(32), nullable=False),  # fired | processed-incomplete | discarded
    Column("job_id", Integer, nullable=True),
    Column("roles", Text, nullable=False),  # JSON: role -> series instance UID (those present)
    Column("decided_at", Float, nullable=False),
    UniqueConstraint("study_instance_uid", "rule_name", name="uq_study_decisions_study_rule"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ts", Float, nullable=False, index=True),
    Column("level", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("series_id", Integer, nullable=True),
    Column("job_id", Integer, nullable=True, index=True),
    Column("message", Text, nullable=False),
)
