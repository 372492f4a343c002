"""The query/retrieve interface against a real Orthanc: QIDO-RS / WADO-RS and C-FIND / C-GET."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from dicom_node.config import DestinationConfig, DicomWebDestinationConfig
from dicom_node.dispatch.targets.dicomweb import send
from dicom_node.network.sender import Outgoing
from dicom_node.query import QueryError, query_retrieve
from dicom_node.samples import Patient, ct_series
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port


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


def test_the_same_interface_over_dimse(orthanc: Orthanc, tmp_path: Path) -> None:
    """C-FIND and C-GET behind the same interface, against the same Orthanc."""
    files = ct_series(tmp_path / "ct", Patient(name="DIMSE^QUERY", patient_id="CFIND-1"), slices=3, size=16)
    assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    source = dcmread(files[0], stop_before_pixels=True)
    pacs = DestinationConfig(
        host="127.0.0.1", port=orthanc.dicom_port, ae_title=orthanc.ae_title, timeout_s=10
    )
    orthanc.add_modality("qr", "QR_NODE", free_port())  # Orthanc answers C-FIND/C-GET to known peers only
    qr = query_retrieve(pacs, "QR_NODE")
    assert [str(s.StudyInstanceUID) for s in qr.find_studies({"PatientID": "CFIND-1"})] == [
        str(source.StudyInstanceUID)
    ]
    assert qr.find_studies({"PatientID": "NOBODY"}) == []
    series = qr.find_series(str(source.StudyInstanceUID), {"Modality": "CT"})
    assert [str(s.SeriesInstanceUID) for s in series] == [str(source.SeriesInstanceUID)]
    fetched = qr.retrieve_series(
        str(source.StudyInstanceUID), str(source.SeriesInstanceUID), tmp_path / "got"
    )
    originals = {str(dcmread(f).SOPInstanceUID): dcmread(f) for f in files}
    assert sorted(p.name for p in fetched) == sorted(f"{uid}.dcm" for uid in originals)
    for path in fetched:
        ds = dcmread(path)
        assert ds.PixelData == originals[str(ds.SOPInstanceUID)].PixelData


def test_unreachable_archives_raise_query_errors() -> None:
    gone = DicomWebDestinationConfig(type="dicomweb", url="http://127.0.0.1:9/dicom-web", timeout_s=2)
    with pytest.raises(QueryError, match="QIDO-RS"):
        query_retrieve(gone).find_studies({"PatientID": "X"})
    nobody = DestinationConfig(host="127.0.0.1", port=free_port(), ae_title="PACS", timeout_s=2)
    with pytest.raises(QueryError, match="association"):
        query_retrieve(nobody).find_studies({"PatientID": "X"})
