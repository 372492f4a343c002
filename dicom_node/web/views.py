"""What each view shows, as plain data: the REST API returns it, the pages render it."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dicom_node.config import AnyDestination, DicomWebDestinationConfig
from dicom_node.ledger import queries
from dicom_node.web.context import WebParts
from dicom_node.web.phi import identity

FAILURE_WINDOW_S = 3600
AUDIT_NAME = "anonymize-audit.jsonl"  # anonymizer.batch.AUDIT_NAME (not imported: keeps the web light)
LOG_TAIL_BYTES = 2 * 1024 * 1024


def overview(parts: WebParts, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    hours = queries.received_per_hour(parts.ledger, hours=12, now=now)
    return {
        "counts": parts.ledger.counts(),
        "archive": archive_summary(parts.ledger.completion_stats()),
        "queue": queries.queue_depth(parts.ledger),
        "received_last_hour": hours[-1]["instances"],
        "throughput": hours,
        "failures_last_hour": queries.failures_since(parts.ledger, now - FAILURE_WINDOW_S),
        "active_associations": parts.active_associations(),
        "storage_free_bytes": parts.storage.free_bytes(),
        "recent_series": with_identity(parts, queries.list_series(parts.ledger, limit=10)),
        "recent_jobs": queries.list_jobs(parts.ledger, limit=10),
    }


def archive_summary(stats: dict[str, int]) -> dict[str, int]:
    """Talking back to archives: C-FIND queries made (completion and priors), priors retrieved and already
    held, series completed early because the archive's count matched."""
    return {
        "queries": stats["queries"] + stats["priors_queries"],
        "priors_retrieved": stats["priors_retrieved"],
        "priors_held": stats["priors_held"],
        "early_completions": stats.get("completed_count-matched-early", 0),
    }


def with_identity(parts: WebParts, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the accession pseudonym (and the patient, when ``web.show_phi``) read from each sample file."""
    key: bytes = parts.pseudonym_key
    for row in rows:
        row.update(identity(parts.storage.absolute(row["sample_path"]), key, parts.config.web.show_phi))
        row.pop("sample_path", None)
    return rows


def series_detail(parts: WebParts, series_id: int) -> dict[str, Any] | None:
    row = parts.ledger.get_series(series_id)
    if row is None:
        return None
    series = with_identity(parts, [row.as_dict()])[0]
    revisions = queries.list_series(
        parts.ledger, queries.SeriesFilter(text=series["series_instance_uid"]), limit=50
    )
    return {
        "series": series,
        "jobs": queries.list_jobs(parts.ledger, queries.JobFilter(series_id=series_id)),
        "events": queries.series_events(parts.ledger, series_id),
        "revisions": [
            {"id": r["id"], "revision": r["revision"], "state": r["state"]}
            for r in revisions
            if r["series_instance_uid"] == series["series_instance_uid"]
        ],
    }


def _priors_summary(ticket: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """For a rule with priors: the archive asked, C-FIND queries made, priors retrieved and already held."""
    priors = (ticket.get("rule") or {}).get("priors")
    if not isinstance(priors, dict):
        return None
    kinds = Counter(str(e["kind"]) for e in events)
    return {
        "archive": priors.get("archive"),
        "queries": kinds["priors-query"],
        "retrieved": kinds["prior-retrieved"],
        "held": kinds["prior-held"],
    }


def job_detail(parts: WebParts, job_id: int) -> dict[str, Any] | None:
    job = parts.ledger.get_job(job_id)
    if job is None:
        return None
    data = job.as_dict()
    del data["ticket"]
    ticket = job.ticket_snapshot()  # as stored: what the administrator reads
    series = parts.ledger.get_series(job.series_id)
    events = [e.as_dict() for e in parts.ledger.job_events(job_id)]
    return {
        "job": data,
        "ticket": ticket,
        "priors": _priors_summary(ticket, events),
        "series": {
            "id": job.series_id,
            "series_instance_uid": series.series_instance_uid if series else "",
            "revision": series.revision if series else 0,
            "modality": series.modality if series else "",
        },
        "events": events,
        "deliveries": [
            {k: v for k, v in d.as_dict().items() if k != "path"} for d in parts.ledger.deliveries(job_id)
        ],
        "log_lines": job_log_lines(parts.config.logging.file, job_id),
    }


def job_log_lines(log_file: Path | None, job_id: int, limit: int = 200) -> list[str]:
    """The node's log lines about this job (JSON lines with ``job_id``), from the tail of the log file.

    Log lines never hold PHI (the logging setup redacts it), so they are shown as they are.
    """
    if log_file is None:
        return []
    try:
        with open(log_file, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    found: deque[str] = deque(maxlen=limit)
    needle = f'"job_id": {job_id}'
    for line in tail.splitlines():
        if needle not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("job_id") == job_id:
            found.append(line)
    return list(found)


def destinations(parts: WebParts) -> list[dict[str, Any]]:
    stats = queries.delivery_stats(parts.ledger)
    empty = {"attempts": 0, "failures": 0, "delivered": 0, "pending": 0, "committed": 0}
    return [
        {"name": name, **_address(dest, parts.config.node.ae_title), **stats.get(name, empty)}
        for name, dest in sorted(parts.config.destinations.items())
    ]


def _address(dest: AnyDestination, node_ae: str) -> dict[str, Any]:
    if isinstance(dest, DicomWebDestinationConfig):
        url = urlsplit(dest.url)
        return {
            "type": "dicomweb",
            "host": url.hostname or "",
            "port": url.port or (443 if url.scheme == "https" else 80),
            "ae_title": dest.ae_title or "",
            "calling_ae_title": "",
            "tls": url.scheme == "https",
            "storage_commitment": False,
        }
    return {
        "type": "dimse",
        "host": dest.host,
        "port": dest.port,
        "ae_title": dest.ae_title,
        "calling_ae_title": dest.calling_ae_title or node_ae,
        "tls": dest.tls is not None,
        "storage_commitment": dest.storage_commitment,
    }


def rules(parts: WebParts) -> list[dict[str, Any]]:
    return [
        {
            "name": rule.name,
            "action": rule.action,
            "match": rule.config.match,
            "pipeline": rule.config.pipeline,
            "send_to": list(rule.config.send_to),
            "anonymize": rule.config.anonymize,
            "deidentify": rule.config.deidentify,
            "stop": rule.config.stop,
            "fallback": rule.config.fallback,
        }
        for rule in parts.rules
    ]


def anonymizer_batches(parts: WebParts, max_depth: int = 3) -> list[dict[str, Any]]:
    """Batch runs found under the storage path (their audit files): files done, refused, failed."""
    batches: list[dict[str, Any]] = []
    root = parts.storage.root
    for depth in range(max_depth + 1):
        for audit in sorted(root.glob("/".join(["*"] * depth + [AUDIT_NAME]))):
            batches.append(_audit_summary(root, audit))
    return batches


def _audit_summary(root: Path, audit: Path) -> dict[str, Any]:
    counts: dict[str, int] = {"ok": 0, "refused": 0, "failed": 0}
    reasons: dict[str, int] = {}
    with audit.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            state = str(entry.get("status", ""))
            counts[state] = counts.get(state, 0) + 1
            if entry.get("reason"):
                reason = str(entry["reason"])[:120]
                reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "folder": audit.parent.relative_to(root).as_posix() or ".",
        "updated_at": audit.stat().st_mtime,
        "counts": counts,
        "top_reasons": sorted(reasons.items(), key=lambda kv: -kv[1])[:5],
    }
