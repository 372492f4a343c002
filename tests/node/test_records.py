"""Typed records across the ledger boundary: each record is its table's row, the job ticket is validated
when read, operator actions raise the exception tree, and the pipeline child says what it wrote."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import update

from dicom_node.dispatch.job_runner import JobRunner
from dicom_node.dispatch.pipeline_process import PipelineProcess
from dicom_node.errors import DicomNodeError, JobStateConflict, NotFoundError, TicketError
from dicom_node.ledger import (
    DeliveryRecord,
    EventRecord,
    JobListing,
    JobRecord,
    JobTicket,
    SeriesRecord,
    StoredInstance,
    StudyDecision,
    StudySeriesRef,
    open_ledger,
    schema,
)
from dicom_node.storage import Storage
from tests.node.test_ledger import SERIES, STUDY, job, record
from tests.support.node import make_config


def _names(record_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record_type)]


@pytest.mark.parametrize(
    ("record_type", "table"),
    [
        (SeriesRecord, schema.series),
        (StoredInstance, schema.instances),
        (JobRecord, schema.jobs),
        (DeliveryRecord, schema.deliveries),
        (EventRecord, schema.events),
        (StudyDecision, schema.study_decisions),
    ],
)
def test_each_record_is_its_tables_row_in_column_order(record_type: type, table: object) -> None:
    """``as_dict`` is the row as a dict (the CLI's --json output): a column added to the schema must be
    added to its record, in the same place."""
    assert _names(record_type) == [c.name for c in table.columns]  # type: ignore[attr-defined]


def test_a_job_listing_is_the_job_then_its_series() -> None:
    extra = ["series_instance_uid", "revision", "modality", "completion_reason"]
    assert _names(JobListing) == [c.name for c in schema.jobs.columns] + extra


def test_the_ticket_is_stored_as_before_and_read_back_typed() -> None:
    ticket = JobTicket(
        series_instance_uid="1.2.3",
        study_instance_uid="1.2",
        revision=2,
        rule={"name": "to-pacs", "match": {"Modality": "CT"}, "priors": None},
        reason="Modality: 'CT' matched",
        pipeline=None,
        anonymize="research",
        send_to=["pacs"],
        destinations={"pacs": {"host": "pacs.example", "port": 104}},
    )
    legacy = {  # what the node wrote before the ticket was typed: same keys, same JSON
        "series_instance_uid": "1.2.3",
        "study_instance_uid": "1.2",
        "revision": 2,
        "rule": {"name": "to-pacs", "match": {"Modality": "CT"}, "priors": None},
        "reason": "Modality: 'CT' matched",
        "pipeline": None,
        "anonymize": "research",
        "deidentify": None,
        "send_to": ["pacs"],
        "destinations": {"pacs": {"host": "pacs.example", "port": 104}},
    }
    assert ticket.to_json() == json.dumps(legacy, ensure_ascii=False, sort_keys=True)
    assert JobTicket.from_json(ticket.to_json()) == ticket
    assert ticket.priors is None and ticket.rule_match == {"Modality": "CT"} and ticket.roles == []

    study = ticket.model_copy(
        update={"study_series": [StudySeriesRef(role="t1", series_instance_uid="9", revision=1)]}
    )
    assert json.loads(study.to_json())["study_series"] == [
        {"role": "t1", "series_instance_uid": "9", "revision": 1}
    ]
    assert JobTicket.from_json(study.to_json()).roles[0].role == "t1"
    assert JobTicket.from_json(json.dumps({**legacy, "added_later": 1})) == ticket  # tolerant read


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{"revision": 1}', "series_instance_uid"),
        ('{"series_instance_uid": "1.2", "revision": "second"}', "revision"),
        ('{"series_instance_uid": "1.2", "revision": 1, "send_to": "pacs"}', "send_to"),
        ("not json", "(ticket)"),
    ],
)
def test_a_malformed_ticket_is_a_ticket_error_naming_the_job_and_field(text: str, names: str) -> None:
    with pytest.raises(TicketError, match=r"job 7: malformed job ticket: .*") as caught:
        JobTicket.from_json(text, job_id=7)
    assert names in str(caught.value)
    assert isinstance(caught.value, DicomNodeError)


def test_a_job_with_a_malformed_ticket_fails_with_the_reason(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    series_id = ledger.record_instances([record(1)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    (job_id,) = ledger.route_series(series_id, [job("to-pacs")], "1 rule fired")
    with ledger.engine.begin() as conn:
        conn.execute(update(schema.jobs).where(schema.jobs.c.id == job_id).values(ticket='{"revision": 1}'))
    claimed = ledger.claim_job("w", lease_s=30)
    assert claimed is not None
    runner = JobRunner(config, Storage(config.storage.path, 0, False), ledger)
    runner.process(claimed, "w", PipelineProcess())  # no pipeline child is started for it
    failed = ledger.get_job(job_id)
    assert failed is not None and failed.state == "failed"
    assert failed.error == f"job {job_id}: malformed job ticket: series_instance_uid: Field required"


def test_operator_actions_raise_the_exception_tree(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    series_id = ledger.record_instances([record(1)])[0].series_id
    ledger.complete_quiet_series(quiet_s=0, now=10**10)
    (job_id,) = ledger.route_series(series_id, [job("to-pacs")], "1 rule fired")
    with pytest.raises(NotFoundError, match=r"^job 999: no such job$") as missing:
        ledger.retry_job(999)
    assert missing.value.what == "job 999"
    with pytest.raises(NotFoundError):
        ledger.discard_job(999, "admin")
    with pytest.raises(JobStateConflict, match="is queued, only failed jobs can be retried"):
        ledger.retry_job(job_id)
    assert ledger.discard_job(job_id, "admin") == "discarded"
    with pytest.raises(JobStateConflict, match="is discarded; only failed, queued, produced"):
        ledger.discard_job(job_id, "admin")
    (listed,) = ledger.list_jobs()
    assert (listed.series_instance_uid, listed.revision, listed.state) == (SERIES, 1, "discarded")
    assert ledger.get_series(series_id) == SeriesRecord.from_row(ledger.get_series(series_id).as_dict())  # type: ignore[union-attr]
    assert ledger.study_of_series(SERIES) == STUDY and ledger.series_sop_instance_uids(SERIES) == {
        f"{SERIES}.1"
    }


def test_the_pipeline_child_reports_what_it_wrote(tmp_path: Path, ct_files: list[Path]) -> None:
    """The parent learns each output's UIDs, SOP class and modality from the child, not from the file."""
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    for path in ct_files:
        (input_dir / path.name).write_bytes(path.read_bytes())
    output_dir = tmp_path / "output"
    child = PipelineProcess()
    try:
        outputs = child.run("qc", input_dir, output_dir, {}, timeout_s=300)
    finally:
        child.kill()
    assert outputs and sorted(o.path for o in outputs) == sorted(output_dir.iterdir())
    for output in outputs:
        ds = dcmread(output.path, stop_before_pixels=True)
        assert (output.sop_instance_uid, output.sop_class_uid) == (ds.SOPInstanceUID, ds.SOPClassUID)
        assert (output.series_instance_uid, output.modality) == (ds.SeriesInstanceUID, ds.Modality)
        assert output.path.name == f"{ds.SOPInstanceUID}.dcm"


def test_an_output_the_child_reports_but_did_not_write_is_refused(tmp_path: Path) -> None:
    from dicom_node.dispatch.pipeline_process import PipelineOutput, _received
    from dicom_node.errors import PipelineError

    ghost = PipelineOutput(tmp_path / "1.2.3.dcm", "1.2.840.10008.5.1.4.1.1.7", "1.2.3", "1.2", "OT")
    with pytest.raises(PipelineError, match=r"not in its folder: 1\.2\.3\.dcm"):
        _received("qc", [ghost], tmp_path)
    with pytest.raises(PipelineError, match="other than its list of outputs"):
        _received("qc", ["1.2.3.dcm"], tmp_path)
