"""Clean copies of messy source headers: real RSNA CR (PatientAge 62), a real DX, generated variants
(PixelSpacing 0\\0, PatientBirthDate absent, Type 2 absent, empty ProcedureCodeSequence). Every output
made from them passes dciodvfy; the sources themselves are never changed; each change is logged once,
without the values."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from inference.dicom_out import write_outputs
from inference.dicom_out.sanitize import clean_sources, repaired_age
from inference.pipeline import LATERALITY_LEFT, LATERALITY_RIGHT, AlgorithmInfo, LabelMap, Result, Segment
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid
from tests.inference.test_writers import LUNG, STRUCTURE

CXR = Path(__file__).resolve().parents[1] / "data" / "cxr"
RSNA_CR = CXR / "torchxrayvision" / "rsna_cr_jpeg_baseline.dcm"
ALGORITHM = AlgorithmInfo(name="test-net", version="1")
SEGMENTS = (
    Segment(1, "Right lung", STRUCTURE, LUNG, laterality=LATERALITY_RIGHT),
    Segment(2, "Left lung", STRUCTURE, LUNG, laterality=LATERALITY_LEFT),
)


def _lungs(shape: tuple[int, int]) -> np.ndarray:
    labels = np.zeros((1, *shape), np.uint8)
    rows, cols = shape
    labels[0, rows // 4 : 3 * rows // 4, cols // 8 : 3 * cols // 8] = 1  # image left = patient right
    labels[0, rows // 4 : 3 * rows // 4, 5 * cols // 8 : 7 * cols // 8] = 2
    return labels


def _messy_cr(folder: Path, **changes: object) -> Path:
    """The real RSNA CR (PatientAge 62) with further defects applied; returns its folder."""
    ds = pydicom.dcmread(RSNA_CR)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    folder.mkdir(parents=True)
    ds.save_as(folder / "cr.dcm")
    return folder


def test_real_cr_age_and_generated_defects_are_cleaned_once_without_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _messy_cr(
        tmp_path / "cr",
        PatientBirthDate=None,
        ReferringPhysicianName=None,
        ProcedureCodeSequence=Sequence([]),
        PixelSpacing=[0, 0],
    )
    series = read_series(folder)
    source = series.datasets[0]
    assert source.PatientAge == "62" and "PatientBirthDate" not in source  # the real defect under test
    result = Result(label_map=LabelMap(_lungs(series.pixels.shape[1:]), SEGMENTS))
    with caplog.at_level(logging.WARNING, logger="inference.dicom_out.sanitize"):
        outputs = write_outputs(series, result, "test", ALGORITHM, seg_on_projection=True)
    assert [ds.Modality for ds in outputs] == ["SEG", "SR", "OT"]
    for ds in outputs:
        warnings = assert_valid(ds, tmp_path)  # no error; the warnings left are the source's own values:
        # its PatientName (a UUID, "retired form") and its empty StudyID ("needed to build DICOMDIR")
        assert [w for w in warnings if "Person Name form" not in w and "DICOMDIR" not in w] == []
        assert "PatientAge" not in ds  # "62": years? the source gives no birth date to tell
        assert "PatientBirthDate" in ds and not ds.PatientBirthDate  # Type 2: present, empty
        assert "ReferringPhysicianName" in ds and not ds.ReferringPhysicianName
        assert "ProcedureCodeSequence" not in ds
    seg = outputs[0]
    assert "PixelMeasuresSequence" not in seg.SharedFunctionalGroupsSequence[0]  # spacing unknown, not 0
    # the source objects are untouched; one log record for the series, naming attributes, not values
    assert source.PatientAge == "62" and list(source.PixelSpacing) == [0, 0]
    records = [r for r in caplog.records if r.name == "inference.dicom_out.sanitize"]
    assert len(records) == 1
    changes = records[0].changes  # type: ignore[attr-defined]
    for keyword in ("PatientAge", "PatientBirthDate", "ProcedureCodeSequence", "PixelSpacing"):
        assert keyword in changes
    assert "62" not in changes and str(source.PatientName) not in changes


def test_patient_age_is_repaired_only_when_the_dates_agree() -> None:
    ds = Dataset()
    ds.PatientAge, ds.PatientBirthDate, ds.StudyDate = "62", "19551201", "20180202"
    assert repaired_age(ds) == "062Y"
    ds.StudyDate = "20170202"  # 61 years: the bare number means something else
    assert repaired_age(ds) is None
    ds.PatientBirthDate = "1955"
    assert repaired_age(ds) is None
    [clean] = clean_sources([ds])
    assert "PatientAge" not in clean and not clean.PatientBirthDate


def test_valid_values_and_code_items_are_kept() -> None:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "123", "99X", "Thing"
    empty = Dataset()
    ds = Dataset()
    ds.PatientAge, ds.PatientSex, ds.PatientWeight = "062Y", "X", "72.5747"
    ds.ProcedureCodeSequence = Sequence([item, empty])
    ds.PixelSpacing = [0.168, 0.168]
    [clean] = clean_sources([ds])
    assert clean.PatientAge == "062Y" and float(clean.PatientWeight) == pytest.approx(72.5747)
    assert "PatientSex" in clean and not clean.PatientSex  # not M/F/O: empty
    assert [i.CodeValue for i in clean.ProcedureCodeSequence] == ["123"]
    assert list(clean.PixelSpacing) == [0.168, 0.168]
