"""QIDO-RS / WADO-RS behind the query/retrieve interface, against a real Orthanc (DICOMweb plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from dicom_node.config import DestinationConfig, DicomWebDestinationConfig
from dicom_node.dispatch.targets.dicomweb import send
from dicom_node.network.sender import Outgoing
from dicom_node.query import QueryError, query_retrieve
from dicom_node.samples import Patient, ct_series
from tests.support.orthanc import Orthanc


def test_find_and_retrieve_a_series_over_dicomweb(orthanc: Orthanc, tmp_path: Path) -> None:
    patient = Patient(name="QUERY^ME", patient_id="QIDO-4711")
    files = ct_series(tmp_path / "ct", patient, slices=5, size=32)
    archive = DicomWebDestinationConfig(type="dicomweb", url=orthanc.dicomweb_url, timeout_s=30)
    assert all(o.accepted for o in send(archive, "AI_NODE", [Outgoing(i, f) for i, f in enumerate(files)]))
    source = dcmread(files[0], stop_before_pixels=True)
    qr = query_retrieve(archive)

    studies = qr.find_studies({"PatientID": "QIDO-4711"})
    assert [str(s.StudyInstanceUID) for s in studies] == [str(source.StudyInstanceUID)]
    assert qr.find_studies({"PatientID": "NOBODY"}) == []
    assert len(qr.find_studies({"PatientName": "QUERY*", "StudyDate": "19000101-"})) == 1  # wildcard, range
    series = qr.find_series(str(source.StudyInstanceUID), {"Modality": "CT"})
    assert [str(s.SeriesInstanceUID) for s in series] == [str(source.SeriesInstanceUID)]
    assert qr.find_series(str(source.StudyInstanceUID), {"Modality": "MR"}) == []

    fetched = qr.retrieve_series(
        str(source.StudyInstanceUID), str(source.SeriesInstanceUID), tmp_path / "got"
    )
    originals = {str(dcmread(f).SOPInstanceUID): dcmread(f) for f in files}
    assert sorted(p.name for p in fetched) == sorted(f"{uid}.dcm" for uid in originals)
    for path in fetched:
        ds = dcmread(path)
        assert ds.PixelData == originals[str(ds.SOPInstanceUID)].PixelData
    assert not list((tmp_path / "got").glob(".*.tmp"))

    with pytest.raises(QueryError, match="HTTP 404"):
        qr.retrieve_series(str(source.StudyInstanceUID), "1.2.3.4.5", tmp_path / "none")
    with pytest.raises(QueryError, match="not a UID"):
        qr.retrieve_series("../../system", "1.2", tmp_path / "none")


def test_unreachable_archive_and_dimse_destinations() -> None:
    gone = DicomWebDestinationConfig(type="dicomweb", url="http://127.0.0.1:9/dicom-web", timeout_s=2)
    with pytest.raises(QueryError, match="QIDO-RS"):
        query_retrieve(gone).find_studies({"PatientID": "X"})
    dimse = DestinationConfig(host="127.0.0.1", port=104, ae_title="PACS")
    with pytest.raises(QueryError, match="dimse"):
        query_retrieve(dimse)
