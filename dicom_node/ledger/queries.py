"""Read-only ledger queries for the operations views (dashboard, REST API, Prometheus metrics).

Every function takes the :class:`~dicom_node.ledger.Ledger` and only reads; state changes stay in
:mod:`dicom_node.ledger.ledger`. Rows are returned as plain dicts (JSON-ready), never with PHI: the ledger
holds UIDs, modality, description, calling AE and counters only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, and_, case, cast, func, or_, select

from dicom_node.ledger import schema as t
from dicom_node.ledger.ledger import TERMINAL_STATES, Ledger

WAITING_STATES = ("queued", "produced")
ACTIVE_STATES = ("running", "sending")


@dataclass(frozen=True)
class SeriesFilter:
    state: str | None = None
    modality: str | None = None
    calling_ae: str | None = None
    text: str | None = None  # substring of a UID or the series description
    since: float | None = None  # last instance received at or after (UNIX seconds)


@dataclass(frozen=True)
class JobFilter:
    state: str | None = None
    pipeline: str | None = None
    rule: str | None = None
    series_id: int | None = None


def _rows(ledger: Ledger, query: Select[Any]) -> list[dict[str, Any]]:
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings().all()]


def _series_conditions(flt: SeriesFilter) -> list[Any]:
    conditions: list[Any] = []
    if flt.state:
        conditions.append(t.series.c.state == flt.state)
    if flt.modality:
        conditions.append(func.upper(t.series.c.modality) == flt.modality.upper())
    if flt.calling_ae:
        conditions.append(t.series.c.calling_ae == flt.calling_ae)
    if flt.text:
        pattern = f"%{flt.text}%"
        conditions.append(
            or_(
                t.series.c.series_instance_uid.like(pattern),
                t.series.c.study_instance_uid.like(pattern),
                t.series.c.series_description.like(pattern),
            )
        )
    if flt.since is not None:
        conditions.append(t.series.c.last_received_at >= flt.since)
    return conditions


def list_series(
    ledger: Ledger, flt: SeriesFilter | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Series revisions, newest first, each with ``jobs``: the rules that fired and their job states."""
    query = select(t.series).order_by(t.series.c.id.desc()).limit(limit).offset(offset)
    conditions = _series_conditions(flt or SeriesFilter())
    if conditions:
        query = query.where(and_(*conditions))
    rows = _rows(ledger, query)
    ids = [row["id"] for row in rows]
    jobs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        job_query = (
            select(t.jobs.c.id, t.jobs.c.series_id, t.jobs.c.rule_name, t.jobs.c.state, t.jobs.c.pipeline)
            .where(t.jobs.c.series_id.in_(ids))
            .order_by(t.jobs.c.id)
        )
        for job in _rows(ledger, job_query):
            jobs[job.pop("series_id")].append(job)
    for row in rows:
        row["jobs"] = jobs.get(row["id"], [])
    return rows


def series_events(ledger: Ledger, series_id: int) -> list[dict[str, Any]]:
    """The series' own events plus those of its jobs, in order."""
    job_ids = select(t.jobs.c.id).where(t.jobs.c.series_id == series_id)
    query = (
        select(t.events)
        .where(or_(t.events.c.series_id == series_id, t.events.c.job_id.in_(job_ids)))
        .order_by(t.events.c.id)
    )
    return _rows(ledger, query)


def list_jobs(
    ledger: Ledger, flt: JobFilter | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Jobs, newest first, joined with their series' UID, revision and modality."""
    flt = flt or JobFilter()
    query = (
        select(
            t.jobs,
            t.series.c.series_instance_uid,
            t.series.c.study_instance_uid,
            t.series.c.revision,
            t.series.c.modality,
        )
        .join(t.series, t.series.c.id == t.jobs.c.series_id)
        .order_by(t.jobs.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if flt.state:
        query = query.where(t.jobs.c.state == flt.state)
    if flt.pipeline:
        query = query.where(t.jobs.c.pipeline == flt.pipeline)
    if flt.rule:
        query = query.where(t.jobs.c.rule_name == flt.rule)
    if flt.series_id is not None:
        query = query.where(t.jobs.c.series_id == flt.series_id)
    return _rows(ledger, query)


def received_by_calling_ae(ledger: Ledger) -> list[dict[str, Any]]:
    """Instances received (every receipt, duplicates included) and bytes stored, per calling AE."""
    query = (
        select(
            t.instances.c.calling_ae,
            # sums are NUMERIC on PostgreSQL (Decimal in Python): cast back to integers for JSON
            cast(func.coalesce(func.sum(t.instances.c.receive_count), 0), BigInteger).label("instances"),
            cast(func.coalesce(func.sum(t.instances.c.size_bytes), 0), BigInteger).label("bytes"),
        )
        .group_by(t.instances.c.calling_ae)
        .order_by(t.instances.c.calling_ae)
    )
    return _rows(ledger, query)


def series_by_state(ledger: Ledger) -> dict[str, int]:
    query = select(t.series.c.state, func.count().label("n")).group_by(t.series.c.state)
    return {row["state"]: int(row["n"]) for row in _rows(ledger, query)}


def series_completed(ledger: Ledger) -> int:
    """Series revisions that were ever complete (complete or routed since)."""
    query = select(func.count().label("n")).where(t.series.c.completed_at.is_not(None))
    return int(_rows(ledger, query)[0]["n"])


def jobs_by_pipeline_and_state(ledger: Ledger) -> list[dict[str, Any]]:
    """Job counts per (pipeline or action, state); forward and discard jobs use the action as pipeline."""
    label = func.coalesce(t.jobs.c.pipeline, t.jobs.c.action).label("pipeline")
    query = select(label, t.jobs.c.state, func.count().label("n")).group_by(label, t.jobs.c.state)
    return _rows(ledger, query)


def delivery_stats(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Per destination: C-STORE attempts, failed attempts, objects delivered and still pending."""
    delivered = func.sum(case((t.deliveries.c.state == "delivered", 1), else_=0))
    committed = func.sum(case((t.deliveries.c.commitment == "committed", 1), else_=0))
    query = select(
        t.deliveries.c.destination,
        func.coalesce(func.sum(t.deliveries.c.attempts), 0).label("attempts"),
        func.coalesce(delivered, 0).label("delivered"),
        func.coalesce(committed, 0).label("committed"),
        func.count().label("objects"),
    ).group_by(t.deliveries.c.destination)
    stats: dict[str, dict[str, int]] = {}
    for row in _rows(ledger, query):
        attempts, done, objects = int(row["attempts"]), int(row["delivered"]), int(row["objects"])
        stats[row["destination"]] = {
            "attempts": attempts,
            "failures": attempts - done,  # each delivered object had exactly one accepted attempt
            "delivered": done,
            "pending": objects - done,
            "committed": int(row["committed"]),  # storage commitment: the archive's word that it keeps them
        }
    return stats


def failed_delivery_rounds(ledger: Ledger, destinations: list[str]) -> dict[str, int]:
    """Delivery rounds per destination that did not complete (objects refused or no association at all).

    Every unfinished round writes one ``retry`` or ``failed`` event whose message lists the problems as
    ``<destination>: <reason>`` joined by ``; `` (see ``Ledger.job_retry_later``); this counts them.
    """
    counts: dict[str, int] = {}
    for name in destinations:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        mentioned = or_(
            t.events.c.message.like(f"%: {escaped}: %", escape="\\"),
            t.events.c.message.like(f"%; {escaped}: %", escape="\\"),
        )
        query = select(func.count().label("n")).where(t.events.c.kind.in_(("retry", "failed")), mentioned)
        counts[name] = int(_rows(ledger, query)[0]["n"])
    return counts


def queue_depth(ledger: Ledger) -> dict[str, int]:
    """Work not finished: jobs waiting or active by state, and series not yet routed."""
    depth = {state: 0 for state in (*WAITING_STATES, *ACTIVE_STATES)}
    query = (
        select(t.jobs.c.state, func.count().label("n"))
        .where(t.jobs.c.state.not_in(TERMINAL_STATES))
        .group_by(t.jobs.c.state)
    )
    for row in _rows(ledger, query):
        depth[row["state"]] = int(row["n"])
    unrouted = select(func.count().label("n")).where(t.series.c.state != "routed")
    depth["series_unrouted"] = int(_rows(ledger, unrouted)[0]["n"])
    return depth


def failures_since(ledger: Ledger, since: float, limit: int = 50) -> list[dict[str, Any]]:
    """Error events (failed jobs, unreadable series) at or after ``since``, newest first."""
    query = (
        select(t.events)
        .where(t.events.c.level == "error", t.events.c.ts >= since)
        .order_by(t.events.c.id.desc())
        .limit(limit)
    )
    return _rows(ledger, query)


def received_per_hour(ledger: Ledger, hours: int = 12, now: float | None = None) -> list[dict[str, Any]]:
    """Instances and bytes received in each of the last ``hours`` whole hours (oldest first)."""
    now = time.time() if now is None else now
    end = (int(now) // 3600 + 1) * 3600
    start = end - hours * 3600
    bucket = func.floor((t.instances.c.received_at - start) / 3600).label("bucket")
    query = (
        select(bucket, func.count().label("instances"), func.sum(t.instances.c.size_bytes).label("bytes"))
        .where(t.instances.c.received_at >= start)
        .group_by(bucket)
    )
    found = {int(row["bucket"]): row for row in _rows(ledger, query)}
    return [
        {
            "hour_start": start + i * 3600,
            "instances": int(found[i]["instances"]) if i in found else 0,
            "bytes": int(found[i]["bytes"] or 0) if i in found else 0,
        }
        for i in range(hours)
    ]


def pipeline_durations(ledger: Ledger) -> list[tuple[str, float]]:
    """(pipeline, seconds from running to produced/failed) for every pipeline job that finished running.

    Derived from the state events the ledger writes ("queued → running", then "running → produced" or a
    failure), so no counter in the executor is needed.
    """
    started = func.min(t.events.c.ts).label("started")
    start_q = (
        select(t.events.c.job_id, started)
        .where(t.events.c.kind == "state", t.events.c.message.like("queued → running%"))
        .group_by(t.events.c.job_id)
        .subquery()
    )
    ended = func.min(t.events.c.ts).label("ended")
    end_q = (
        select(t.events.c.job_id, ended)
        .where(
            or_(
                and_(t.events.c.kind == "state", t.events.c.message.like("running → %")),
                t.events.c.kind == "failed",
            )
        )
        .group_by(t.events.c.job_id)
        .subquery()
    )
    query = (
        select(t.jobs.c.pipeline, start_q.c.started, end_q.c.ended)
        .join(start_q, start_q.c.job_id == t.jobs.c.id)
        .join(end_q, end_q.c.job_id == t.jobs.c.id)
        .where(t.jobs.c.action == "pipeline", end_q.c.ended >= start_q.c.started)
    )
    return [(row["pipeline"] or "", float(row["ended"] - row["started"])) for row in _rows(ledger, query)]


def ledger_reachable(ledger: Ledger) -> bool:
    """True when a trivial query on the ledger answers (readiness)."""
    try:
        _rows(ledger, select(func.count().label("n")).select_from(t.series).limit(1))
    except Exception:
        return False
    return True
