"""Jobs and dispatch against a real Orthanc: pipeline results and forwarded originals, retries, once-only."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import highdicom as hd
from pydicom import dcmread

from dicom_node.node import Node
from dicom_node.samples import KOREAN_PATIENT, ct_series
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.orthanc import Orthanc
from tests.support.ports import wait_for


def _job_states(node: Node) -> list[str]:
    return [str(j.state) for j in node.ledger.list_jobs()]


def _wait_delivered(node: Node, jobs: int, timeout: float = 90) -> None:
    wait_for(
        lambda: _job_states(node).count("delivered") == jobs,
        timeout=timeout,
        what=f"{jobs} delivered job(s); now {_job_states(node)}",
    )


def test_pipeline_results_reach_orthanc_and_round_trip(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], tmp_path: Path
) -> None:
    files = ct_series(tmp_path / "ct", KOREAN_PATIENT, slices=8, size=64)
    source = dcmread(files[0], stop_before_pixels=True)
    node = start_node(
        destinations=pacs_destination,
        rules=[{"name": "qc", "match": {"Modality": "CT"}, "pipeline": "qc", "send_to": ["pacs"]}],
    )
    assert storescu(node.port, files).returncode == 0
    _wait_delivered(node, 1)
    stored = {i["MainDicomTags"]["SOPInstanceUID"]: orthanc.file(i["ID"]) for i in orthanc.instances()}
    by_modality = {dcmread(io.BytesIO(b)).Modality: dcmread(io.BytesIO(b)) for b in stored.values()}
    assert set(by_modality) == {"SEG", "SR", "OT"}
    for ds in by_modality.values():  # patient and study identity of the source, Korean name intact
        assert ds.PatientName == source.PatientName and ds.PatientID == source.PatientID
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    seg = hd.seg.Segmentation.from_dataset(by_modality["SEG"])
    assert seg.number_of_segments == 1
    source_uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    assert referenced and referenced <= source_uids
    sr = hd.sr.Comprehensive3DSR.from_dataset(by_modality["SR"])
    groups = (
        sr.content.get_volumetric_roi_measurement_groups() + sr.content.get_planar_roi_measurement_groups()
    )
    assert groups and groups[0].get_measurements()
    assert by_modality["SEG"].SOPInstanceUID in str(
        by_modality["SR"]
    )  # the SR references the SEG it describes


def test_forward_rule_sends_the_originals_once(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], ct_files: list[Path]
) -> None:
    node = start_node(
        destinations=pacs_destination,
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}],
    )
    assert storescu(node.port, ct_files).returncode == 0
    _wait_delivered(node, 1)
    sent = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in ct_files}
    assert Counter(orthanc.sop_instance_uids()) == Counter(sent)
    job = node.ledger.list_jobs()[0]
    assert all(d.attempts == 1 and d.state == "delivered" for d in node.ledger.deliveries(int(job.id)))


def test_stopped_destination_gets_results_after_it_returns(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], ct_files: list[Path]
) -> None:
    orthanc.stop()
    node = start_node(
        destinations=pacs_destination,
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}],
    )
    assert storescu(node.port, ct_files).returncode == 0
    wait_for(lambda: [j.attempts for j in node.ledger.list_jobs()][:1] >= [2], timeout=60, what="retries")
    job_id = int(node.ledger.list_jobs()[0].id)
    retries = [e for e in node.ledger.job_events(job_id) if e.kind == "retry"]
    assert len(retries) >= 2 and "next in" in retries[0].message  # back-off visible in the job's events
    orthanc.start()
    _wait_delivered(node, 1)
    assert sorted(orthanc.sop_instance_uids()) == sorted(
        str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in ct_files
    )


def test_failure_statuses_resend_only_the_refused_objects(
    start_node: Callable[..., Node], tmp_path: Path, ct_files: list[Path]
) -> None:
    scp = StoreSCP(tmp_path / "scp")
    scp.start()
    try:
        uids = [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in ct_files]
        blocker = scp.block("CT", uids[2])  # storescp answers this one with a failure status
        node = start_node(
            destinations={
                "scp": {"host": "127.0.0.1", "port": scp.port, "ae_title": "STORESCP", "timeout_s": 5}
            },
            rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["scp"]}],
        )
        assert storescu(node.port, ct_files).returncode == 0
        wait_for(
            lambda: [j.attempts for j in node.ledger.list_jobs()][:1] >= [2],
            timeout=60,
            what="retries",
        )
        job_id = int(node.ledger.list_jobs()[0].id)
        deliveries = {d.sop_instance_uid: d for d in node.ledger.deliveries(job_id)}
        refused = deliveries[uids[2]]
        assert refused.state == "pending" and (refused.last_status or 0) & 0xF000 in (0xA000, 0xC000)
        assert all(d.state == "delivered" for uid, d in deliveries.items() if uid != uids[2])
        blocker.rmdir()
        _wait_delivered(node, 1)
        final = {d.sop_instance_uid: d for d in node.ledger.deliveries(job_id)}
        assert all(d.attempts == 1 for uid, d in final.items() if uid != uids[2])  # never re-sent
        assert final[uids[2]].attempts >= 3
        assert scp.stored_counts() == {uid: 1 for uid in uids}  # each object reached the destination once
    finally:
        scp.stop()


def test_failed_job_is_visible_and_can_be_retried(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], ct_files: list[Path]
) -> None:
    orthanc.stop()
    node = start_node(
        destinations=pacs_destination,
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}],
        dispatch={"max_attempts": 2},
    )
    assert storescu(node.port, ct_files).returncode == 0
    wait_for(lambda: _job_states(node) == ["failed"], timeout=60, what="the job to fail")
    job = node.ledger.list_jobs()[0]
    assert "gave up after 2 attempts" in str(job.error) and "association" in str(job.error)
    orthanc.start()
    assert node.ledger.retry_job(int(job.id)) == "produced"
    node.executor.wake()
    _wait_delivered(node, 1)
    assert len(orthanc.sop_instance_uids()) == len(ct_files)


def test_a_refusing_destination_is_not_hammered(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], tmp_path: Path
) -> None:
    orthanc.stop()
    node = start_node(
        destinations=pacs_destination,
        rules=[{"name": "copy", "match": {"Modality": "CT"}, "send_to": ["pacs"]}],
        dispatch={"backoff_initial_s": 3.0, "backoff_max_s": 3.0},
    )
    for i in range(4):  # four series, four jobs to the same dead destination
        files = ct_series(tmp_path / f"ct{i}", slices=1, size=16, series_number=i + 10)
        assert storescu(node.port, files).returncode == 0
    wait_for(lambda: len(node.ledger.list_jobs()) == 4, timeout=30, what="four jobs")
    time.sleep(8)
    events = [e for j in node.ledger.list_jobs() for e in node.ledger.job_events(int(j.id))]
    tried = [e for e in events if e.kind == "retry" and "attempt" in e.message]
    deferred = [e for e in events if e.kind == "retry" and e.message.startswith("deferred")]
    # about one association attempt per back-off period for the destination, not one per job
    assert deferred and len(tried) <= 5, [e.message for e in events if e.kind == "retry"]
