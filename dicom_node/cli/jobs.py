"""`dicom-node jobs`: list jobs, or show one job's timeline."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from dicom_node.cli.common import add_config_argument, load
from dicom_node.errors import NotFoundError
from dicom_node.ledger import open_ledger

HELP = "list jobs (state, rule, series, error) or show one job's timeline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("job_id", nargs="?", type=int, help="show this job's timeline and deliveries")
    parser.add_argument("--state", help="only jobs in this state (queued, running, failed, ...)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def run(args: argparse.Namespace) -> int:
    config = load(args, log=False)
    ledger = open_ledger(config.storage.database_url)
    if args.job_id is not None:
        job = ledger.get_job(args.job_id)
        if job is None:
            raise NotFoundError("job", args.job_id)
        if args.json:
            print(
                json.dumps(
                    {
                        "job": job.as_dict(),
                        "events": [e.as_dict() for e in ledger.job_events(args.job_id)],
                        "deliveries": [d.as_dict() for d in ledger.deliveries(args.job_id)],
                    },
                    default=str,
                )
            )
            return 0
        print(f"job {job.id}  state={job.state}  rule={job.rule_name}  attempts={job.attempts}")
        series = ledger.get_series(job.series_id)
        if series is not None and series.completion_reason:
            asked = series.completion_queries
            archive = f", archive count {series.archive_count}, {asked} queries" if asked else ""
            print(f"series complete by {series.completion_reason}{archive}")
        if job.error:
            print(f"error: {job.error}")
        for event in ledger.job_events(args.job_id):
            print(f"  {_when(event.ts)}  {event.level:7} {event.kind:10} {event.message}")
        deliveries = ledger.deliveries(args.job_id)
        sent = sum(d.state == "delivered" for d in deliveries)
        committed = sum(d.commitment == "committed" for d in deliveries)
        print(f"outputs: {len(deliveries)}, sent {sent}, committed {committed} (storage commitment)")
        for d in deliveries:
            status = f"0x{d.last_status:04X}" if d.last_status is not None else "-"
            commitment = f" commitment={d.commitment}" if d.commitment else ""
            uid = d.sop_instance_uid
            print(f"  -> {d.destination:12} {d.state:9} status={status}{commitment} {uid}")
        return 0
    rows = ledger.list_jobs(state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], default=str))
        return 0
    print(
        f"{'id':>5} {'state':10} {'rule':20} {'action':9} {'attempts':>8}  {'complete by':19}  "
        "series (revision)  error"
    )
    for r in rows:
        error = (r.error or "")[:60]
        completed_by = (r.completion_reason or "-")[:19]
        print(
            f"{r.id:>5} {r.state:10} {r.rule_name[:20]:20} {r.action:9} {r.attempts:>8}  "
            f"{completed_by:19}  {r.series_instance_uid} ({r.revision})  {error}"
        )
    stats = ledger.completion_stats()
    if stats["queries"]:
        early = stats.get("completed_count-matched-early", 0)
        print(f"completion queries made: {stats['queries']}, early completions: {early}")
    if stats["priors_queries"] or stats["priors_retrieved"] or stats["priors_held"]:
        print(
            f"priors queries made: {stats['priors_queries']}, priors retrieved: {stats['priors_retrieved']}, "
            f"already held: {stats['priors_held']}"
        )
    return 0
