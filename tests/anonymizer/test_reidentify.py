"""De-identified inference: pseudonymise, make a result on the pseudonymised input, re-identify it."""

from __future__ import annotations

import stat
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from anonymizer.engine import Anonymizer
from anonymizer.reidentify import ReidentificationStore, reidentify

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"


def _result_for(image: Dataset) -> Dataset:
    """What a pipeline makes: a new instance in the same study that references the input."""
    result = Dataset()
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID", "StudyDate"):
        setattr(result, keyword, image.get(keyword))
    result.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    result.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ref = Dataset()
    ref.ReferencedSOPClassUID = image.SOPClassUID
    ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = image.SeriesInstanceUID
    series.ReferencedInstanceSequence = [ref]
    result.ReferencedSeriesSequence = [series]
    result.PatientIdentityRemoved = "YES"
    return result


def test_round_trip_restores_identity(tmp_path: Path) -> None:
    source = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    anonymizer = Anonymizer(["retain_longitudinal_modified_dates"], key=b"k" * 32)
    anonymized = anonymizer.anonymize(source)
    store_path = tmp_path / "reid.sqlite"
    with ReidentificationStore(store_path) as store:
        store.record_result(anonymized)
        result = reidentify(_result_for(anonymized.dataset), store)
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    assert result.PatientName == source.PatientName and result.PatientID == source.PatientID
    assert result.AccessionNumber == source.AccessionNumber
    assert result.StudyInstanceUID == source.StudyInstanceUID
    assert result.StudyDate == source.StudyDate
    series = result.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert result.SOPInstanceUID == "1.2.826.0.1.3680043.8.498.2"  # the result's own UID stays
    assert "PatientIdentityRemoved" not in result


def test_in_memory_store_is_bounded() -> None:
    from anonymizer.engine import IdentityMapping

    store = ReidentificationStore(":memory:", max_rows=3)
    store.record([IdentityMapping("uid", f"2.25.{i}", f"1.2.{i}") for i in range(5)])
    assert store.original("uid", "2.25.0") is None and store.original("uid", "2.25.1") is None
    assert store.original("uid", "2.25.4") == "1.2.4"
    assert not Path(":memory:").exists()
