"""The ``query`` section of an archive destination: C-FIND, then C-GET or C-MOVE to the node, against
Orthanc and DCMTK's dcmqrscp; refusals raise QueryError with the archive's answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from dicom_node.config import DestinationConfig
from dicom_node.config_query import QueryConfig
from dicom_node.errors import ConfigError
from dicom_node.query import QueryError, query_retrieve, series_instance_count
from dicom_node.samples import Patient, ct_series
from tests.support.dcmqrscp import DcmQrScp
from tests.support.dcmtk import storescu
from tests.support.node import make_config
from tests.support.orthanc import Orthanc
from tests.support.ports import free_port

MOVE_PORT = free_port()


@pytest.fixture(scope="module")
def dcmqr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DcmQrScp]:
    server = DcmQrScp(tmp_path_factory.mktemp("dcmqrscp"), {"QR_NODE": MOVE_PORT})
    server.start()
    yield server
    server.stop()


def _archive(port: int, ae_title: str, retrieve: str) -> DestinationConfig:
    query = QueryConfig(retrieve=retrieve, move_port=MOVE_PORT, move_bind="127.0.0.1")
    return DestinationConfig(host="127.0.0.1", port=port, ae_title=ae_title, timeout_s=10, query=query)


def _check_retrieved(files: list[Path], fetched: list[Path]) -> None:
    originals = {str(dcmread(f).SOPInstanceUID): dcmread(f) for f in files}
    assert sorted(p.name for p in fetched) == sorted(f"{uid}.dcm" for uid in originals)
    for path in fetched:
        ds = dcmread(path)
        assert ds.PixelData == originals[str(ds.SOPInstanceUID)].PixelData


@pytest.mark.parametrize("retrieve", ["c-get", "c-move"])
def test_dcmqrscp_finds_counts_and_retrieves(dcmqr: DcmQrScp, tmp_path: Path, retrieve: str) -> None:
    files = ct_series(
        tmp_path / "ct", Patient(name="QR^DCMTK", patient_id=f"DCMQR-{retrieve}"), slices=4, size=16
    )
    assert storescu(dcmqr.port, files, aec=dcmqr.ae_title).returncode == 0
    source = dcmread(files[0], stop_before_pixels=True)
    study, series = str(source.StudyInstanceUID), str(source.SeriesInstanceUID)
    qr = query_retrieve(_archive(dcmqr.port, dcmqr.ae_title, retrieve), "QR_NODE")
    assert [str(s.StudyInstanceUID) for s in qr.find_studies({"PatientID": f"DCMQR-{retrieve}"})] == [study]
    assert [str(s.SeriesInstanceUID) for s in qr.find_series(study)] == [series]
    assert series_instance_count(qr, study, series) == len(files)
    assert series_instance_count(qr, study, "1.2.3.999") is None
    _check_retrieved(files, qr.retrieve_series(study, series, tmp_path / "got"))


@pytest.mark.parametrize("retrieve", ["c-get", "c-move"])
def test_orthanc_as_pacs_counts_and_retrieves(orthanc: Orthanc, tmp_path: Path, retrieve: str) -> None:
    files = ct_series(tmp_path / "ct", Patient(name="QR^ORTHANC", patient_id="ORTH-QR"), slices=3, size=16)
    assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    source = dcmread(files[0], stop_before_pixels=True)
    study, series = str(source.StudyInstanceUID), str(source.SeriesInstanceUID)
    orthanc.add_modality("qr", "QR_NODE", MOVE_PORT)
    qr = query_retrieve(_archive(orthanc.dicom_port, orthanc.ae_title, retrieve), "QR_NODE")
    assert series_instance_count(qr, study, series) == len(files)
    _check_retrieved(files, qr.retrieve_series(study, series, tmp_path / "got"))


def test_a_move_to_an_unknown_destination_is_a_query_error(orthanc: Orthanc, tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(patient_id="ORTH-REFUSE"), slices=2, size=16)
    assert storescu(orthanc.dicom_port, files, aec=orthanc.ae_title).returncode == 0
    source = dcmread(files[0], stop_before_pixels=True)
    orthanc.add_modality("qr", "QR_NODE", MOVE_PORT)
    archive = _archive(orthanc.dicom_port, orthanc.ae_title, "c-move")
    archive.query.move_ae_title = "NOT_KNOWN"  # type: ignore[union-attr]
    with pytest.raises(QueryError, match="C-MOVE to NOT_KNOWN ended with 0x"):
        query_retrieve(archive, "QR_NODE").retrieve_series(
            str(source.StudyInstanceUID), str(source.SeriesInstanceUID), tmp_path / "got"
        )
    assert not list((tmp_path / "got").glob("*.dcm"))


def test_c_move_needs_a_port(tmp_path: Path) -> None:
    destination = {"host": "pacs", "port": 104, "ae_title": "PACS", "query": {"retrieve": "c-move"}}
    with pytest.raises(ConfigError, match=r"destinations\.pacs\.query: .*move_port: required"):
        make_config(tmp_path, destinations={"pacs": destination})
