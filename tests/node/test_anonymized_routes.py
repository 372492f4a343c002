"""The anonymizer inside the node: anonymised forwarding and the de-identified inference route."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import highdicom as hd
from pydicom import dcmread

from dicom_node.node import Node
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc
from tests.support.ports import wait_for

PATIENT = Patient(
    name="CANARY^SECRET", patient_id="CANARY-123", birth_date="19510203", accession="ACC-CANARY"
)


def _profiles(tmp_path: Path) -> dict[str, Any]:
    return {"profiles": {"research": {"options": [], "key_file": str(tmp_path / "anon.key")}}}


def _orthanc_datasets(orthanc: Orthanc) -> list[Any]:
    return [dcmread(io.BytesIO(orthanc.file(i["ID"]))) for i in orthanc.instances()]


def test_anonymize_rule_forwards_only_anonymised_copies(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], tmp_path: Path
) -> None:
    files = ct_series(tmp_path / "ct", PATIENT, slices=4, size=32)
    originals = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    node = start_node(
        destinations=pacs_destination,
        anonymizer=_profiles(tmp_path),
        rules=[
            {"name": "research", "match": {"Modality": "CT"}, "anonymize": "research", "send_to": ["pacs"]}
        ],
    )
    assert storescu(node.port, files).returncode == 0
    wait_for(lambda: [j.state for j in node.ledger.list_jobs()] == ["delivered"], timeout=90, what="delivery")
    received = _orthanc_datasets(orthanc)
    assert len(received) == len(files)
    for ds in received:
        raw = ds.to_json()
        for secret in ("CANARY", "19510203", *originals, PATIENT.study_uid):
            assert secret not in raw
        assert ds.PatientIdentityRemoved == "YES"


def test_deidentified_pipeline_results_come_back_under_the_original_identity(
    start_node: Callable[..., Node], orthanc: Orthanc, pacs_destination: dict[str, Any], tmp_path: Path
) -> None:
    files = ct_series(tmp_path / "ct", PATIENT, slices=6, size=48)
    originals = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    node = start_node(
        destinations=pacs_destination,
        anonymizer=_profiles(tmp_path),
        rules=[
            {
                "name": "qc",
                "match": {"Modality": "CT"},
                "pipeline": "qc",
                "deidentify": "research",
                "send_to": ["pacs"],
            }
        ],
    )
    assert storescu(node.port, files).returncode == 0
    wait_for(
        lambda: [j.state for j in node.ledger.list_jobs()] == ["delivered"], timeout=120, what="delivery"
    )
    received = {ds.Modality: ds for ds in _orthanc_datasets(orthanc)}
    assert set(received) == {"SEG", "SR", "OT"}
    for ds in received.values():
        assert str(ds.PatientName) == "CANARY^SECRET" and ds.PatientID == "CANARY-123"
        assert ds.StudyInstanceUID == PATIENT.study_uid
    seg = hd.seg.Segmentation.from_dataset(received["SEG"])
    assert {uid for _, _, uid in seg.get_source_image_uids()} <= originals
    # the pipeline itself only ever saw pseudonymised input
    job_id = int(node.ledger.list_jobs()[0].id)
    seen = [
        dcmread(p, stop_before_pixels=True) for p in (node.storage.job_dir(job_id) / "deidentified").iterdir()
    ]
    assert seen and all("CANARY" not in str(ds.PatientName) and ds.PatientID != "CANARY-123" for ds in seen)
