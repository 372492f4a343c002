"""The ledger on SQLite and on PostgreSQL: migrations create exactly the tables the code uses, and every
operation (ingest, completion, routing, leases, deliveries, the web read models) behaves the same."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydicom import dcmread
from sqlalchemy import text

from dicom_node.errors import InvalidDatasetError
from dicom_node.ingest import parse_header
from dicom_node.ledger import (
    DeliverySpec,
    InstanceRecord,
    JobTicket,
    Ledger,
    NewJob,
    open_ledger,
    queries,
    schema,
)
from dicom_node.ledger.database import create_ledger_engine, migrate
from dicom_node.samples import Patient, ct_series

SERIES = "1.2.826.0.1.3680043.8.498.1"
STUDY = "1.2.826.0.1.3680043.8.498.2"


def record(
    n: int, series: str = SERIES, expected: int | None = None, path: str | None = None
) -> InstanceRecord:
    return InstanceRecord(
        sop_instance_uid=f"{series}.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        series_instance_uid=series,
        study_instance_uid=STUDY,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        path=path or f"spool/{STUDY}/{series}/{n}.dcm",
        size_bytes=1000 + n,
        frames=1,
        calling_ae="CT_SCANNER",
        modality="CT",
        series_description="Head",
        expected_frames=expected,
    )


def job(rule: str, action: str = "forward") -> NewJob:
    ticket = JobTicket(series_instance_uid=SERIES, study_instance_uid=STUDY, revision=1, rule={"name": rule})
    return NewJob(rule, action, None, ticket)


def head_revision() -> str:
    """The newest migration (the schema every process brings the ledger to)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from dicom_node.ledger.database import MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def test_migrations_match_the_schema(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert diff == []
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head_revision()


def test_migrating_twice_is_harmless(ledger_url: str) -> None:
    open_ledger(ledger_url).add_event("test", "first start")
    ledger = open_ledger(ledger_url)
    with ledger.engine.connect() as conn:
        assert conn.execute(text("select count(*) from events")).scalar() == 1


def test_instances_are_counted_once_and_expected_count_completes(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    first = ledger.record_instances([record(1, expected=3), record(2, expected=3)])
    assert [r.duplicate for r in first] == [False, False]
    assert first[0].series_id == first[1].series_id and first[0].revision == 1
    again = ledger.record_instances([record(2, expected=3)])
    assert again[0].duplicate and not again[0].completed
    last = ledger.record_instances([record(3, expected=3)])
    assert last[0].completed
    series = ledger.get_series(first[0].series_id)
    assert series is not None
    assert (series.state, series.instance_count, series.completion_reason) == (
        "complete",
        3,
        "expected-count",
    )
    assert ledger.counts()["instances"] == 3


def test_quiet_series_complete_once_and_route_once(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1), record(2)])[0].series_id
    assert ledger.complete_quiet_series(quiet_s=60) == []
    far_future = 10**10
    assert ledger.complete_quiet_series(quiet_s=1, now=far_future) == [series_id]
    assert ledger.complete_quiet_series(quiet_s=1, now=far_future) == []
    assert [s.id for s in ledger.complete_unrouted()] == [series_id]
    created = ledger.route_series(series_id, [job("to-pacs"), job("drop", "discard")], "2 rules fired")
    assert len(created) == 2
    assert ledger.route_series(series_id, [job("to-pacs")], "again") == []
    assert ledger.complete_unrouted() == []
    states = {j.rule_name: j.state for j in ledger.list_jobs()}
    assert states == {"to-pacs": "queued", "drop": "discarded"}


def test_a_late_instance_opens_the_next_revision(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1), record(2)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    ledger.route_series(series_id, [], "nothing fired")
    late = ledger.record_instances([record(3)])[0]
    assert late.late and late.revision == 2 and late.series_id != series_id
    files = ledger.series_files(SERIES, 2)
    assert len(files) == 3  # a revision is the whole series


def test_jobs_leases_and_deliveries(ledger_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    (job_id,) = ledger.route_series(series_id, [job("to-pacs")], "1 rule fired")
    owner = "host-with-a-long-name:" + "/deep" * 40 + ":worker-1"  # longer than any fixed column
    claimed = ledger.claim_job(owner, lease_s=30)
    assert claimed is not None and claimed.id == job_id and claimed.lease_owner == owner
    assert ledger.claim_job("other", lease_s=30) is None
    assert ledger.renew_lease(job_id, owner, 30)
    long_path = "jobs/1/output/" + "sub/" * 150 + "out.dcm"
    spec = DeliverySpec("pacs", "1.2.3.4.5", "1.2.840.10008.5.1.4.1.1.7", long_path)
    assert ledger.job_produced(job_id, owner, [spec], "1 object") == "produced"
    assert ledger.job_produced(job_id, owner, [spec], "again") == "produced"  # one delivery row per object
    assert len(ledger.deliveries(job_id)) == 1
    sending = ledger.claim_job(owner, lease_s=30)
    assert sending is not None and sending.state == "sending"
    assert ledger.job_retry_later(job_id, owner, "pacs: refused", delay_s=0, max_attempts=5) == "produced"
    ledger.claim_job(owner, lease_s=30)
    (delivery,) = ledger.pending_deliveries(job_id)
    ledger.delivery_result(delivery.id, 0, None)
    ledger.job_delivered(job_id, owner)
    assert ledger.pending_deliveries(job_id) == []
    done = ledger.get_job(job_id)
    assert done is not None and done.state == "delivered" and done.lease_owner is None
    assert done.read_ticket() == job("to-pacs").ticket  # stored and read back, typed
    assert json.loads(done.ticket)["rule"] == {"name": "to-pacs"}


def test_expired_leases_are_recovered(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    (job_id,) = ledger.route_series(series_id, [job("to-pacs")], "1 rule fired")
    assert ledger.claim_job("dead-worker", lease_s=-1) is not None
    assert ledger.recover_leases() == 1
    again = ledger.get_job(job_id)
    assert again is not None and again.state == "queued" and again.lease_owner is None


def test_web_read_models(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1), record(2), record(2)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    (job_id,) = ledger.route_series(series_id, [job("to_pacs")], "1 rule fired")
    ledger.claim_job("w", lease_s=30)
    ledger.job_produced(job_id, "w", [DeliverySpec("pacs_1", "1.2.3", "1.2.4", "out.dcm")], "1 object")
    ledger.claim_job("w", lease_s=30)
    ledger.job_retry_later(job_id, "w", "pacs_1: refused (0xA700)", delay_s=60, max_attempts=5)

    listed = queries.list_series(ledger, queries.SeriesFilter(modality="ct", text="498.1"))
    assert [s["id"] for s in listed] == [series_id] and listed[0]["jobs"][0]["rule_name"] == "to_pacs"
    assert queries.list_jobs(ledger, queries.JobFilter(rule="to_pacs"))[0]["series_instance_uid"] == SERIES
    by_ae = queries.received_by_calling_ae(ledger)
    assert by_ae == [{"calling_ae": "CT_SCANNER", "instances": 3, "bytes": 1001 + 1002}]
    assert all(type(v) is int for v in (by_ae[0]["instances"], by_ae[0]["bytes"]))
    assert queries.series_by_state(ledger) == {"routed": 1}
    assert queries.series_completed(ledger) == 1
    assert queries.delivery_stats(ledger)["pacs_1"] == {
        "attempts": 0,
        "failures": 0,
        "delivered": 0,
        "pending": 1,
        "committed": 0,
    }
    assert queries.failed_delivery_rounds(ledger, ["pacs_1", "pacs"]) == {"pacs_1": 1, "pacs": 0}
    assert queries.queue_depth(ledger)["produced"] == 1
    assert sum(h["instances"] for h in queries.received_per_hour(ledger)) == 2
    assert [kind for kind in (e["kind"] for e in queries.series_events(ledger, series_id))].count("job") == 1
    assert queries.failures_since(ledger, 0) == []
    assert queries.jobs_by_pipeline_and_state(ledger) == [
        {"pipeline": "forward", "state": "produced", "n": 1}
    ]
    assert queries.pipeline_durations(ledger) == []  # forward jobs are not pipelines
    assert queries.ledger_reachable(ledger)


def test_ledger_sizes_are_enforced_the_same_way(ledger_url: str) -> None:
    """Paths have no length limit on either database; a 4 GiB instance size fits."""
    ledger = open_ledger(ledger_url)
    deep = "spool/" + "d" * 600 + "/1.dcm"
    big = InstanceRecord(**{**record(1, path=deep).__dict__, "size_bytes": 5 * 1024**3})
    series_id = ledger.record_instances([big])[0].series_id
    (row,) = ledger.series_files(SERIES, 1)
    assert (row.path, row.size_bytes) == (deep, 5 * 1024**3)
    assert isinstance(ledger, Ledger) and series_id


def test_uids_longer_than_the_ledger_holds_are_refused_before_it(tmp_path: Path) -> None:
    """PostgreSQL enforces the 64-character UID columns; the receiver refuses such objects on any database."""
    path = ct_series(tmp_path, Patient(), slices=1, size=8)[0]
    ds = dcmread(path)
    ds.SOPInstanceUID = "1." * 35 + "1"  # 71 characters
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    with pytest.raises(InvalidDatasetError, match="longer than 64"):
        parse_header(buffer.getvalue())


def test_upgrading_a_ledger_of_the_first_release_keeps_its_rows(ledger_url: str) -> None:
    engine = create_ledger_engine(ledger_url)
    migrate(engine, "0001")
    Ledger(engine).record_instances([record(1), record(2)])
    engine.dispose()
    ledger = open_ledger(ledger_url)  # upgrades to head
    files = ledger.series_files(SERIES, 1)
    assert [f.sop_instance_uid for f in files] == [f"{SERIES}.1", f"{SERIES}.2"]
    assert [f.size_bytes for f in files] == [1001, 1002]
    assert len(ledger.complete_quiet_series(quiet_s=0, now=10**10)) == 1  # and it works on as before


def test_a_restart_takes_back_its_own_leases_but_not_a_live_neighbours(
    ledger_url: str, tmp_path: Path
) -> None:
    """Two processes with workers on one host and storage: the one starting again recovers the jobs of
    its dead predecessor at once, and leaves the jobs of the other, still running, process alone."""
    import subprocess

    from dicom_node.dispatch.executor import holder_alive, owner_prefix
    from dicom_node.storage import Storage

    ledger = open_ledger(ledger_url)
    prefix = owner_prefix(Storage(tmp_path / "var", 0, False))
    neighbour = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        series_id = ledger.record_instances([record(1)])[0].series_id
        ledger.complete_quiet_series(quiet_s=0, now=10**10)
        ledger.route_series(series_id, [job("a"), job("b")], "2 rules fired")
        live_owner = f"{prefix}{neighbour.pid}.cafe0001:0"
        dead_owner = f"{prefix}{dead.pid}.cafe0002:0"
        first = ledger.claim_job(live_owner, lease_s=600)
        second = ledger.claim_job(dead_owner, lease_s=600)
        assert first is not None and second is not None
        assert holder_alive(live_owner) and not holder_alive(dead_owner)
        assert ledger.recover_leases(prefix, holder_alive) == 1
        states = {j.id: (j.state, j.lease_owner) for j in ledger.list_jobs()}
        assert states[first.id] == ("running", live_owner)
        assert states[second.id] == ("queued", None)
    finally:
        neighbour.kill()
        neighbour.wait()
