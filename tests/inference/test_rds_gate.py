"""The rds newborn gate (age from the header) and the patient sides from Patient Orientation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydicom.dataset import Dataset

from dicom_node.errors import ConfigError
from inference.pipelines.rds.newborn import (
    AGE_UNKNOWN,
    NOT_NEWBORN,
    NewbornGate,
    age_in_days,
    gate_from_params,
    parse_age_days,
)
from inference.pipelines.rds.orientation import display_of
from inference.pipelines.rds.source import pixel_spacing


def _ds(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("003D", 3),
        ("002W", 14),
        ("001M", 30.4375),
        ("001Y", 365.25),
        ("62", 62 * 365.25),
        ("", None),
        ("3 d", None),
    ],
)
def test_patient_age_in_days(text: str, days: float | None) -> None:
    assert parse_age_days(text) == (pytest.approx(days) if days is not None else None)


def test_age_from_birth_date_and_the_first_image_date() -> None:
    assert age_in_days(_ds(PatientBirthDate="20240310", StudyDate="20240314")) == 4
    assert age_in_days(_ds(PatientBirthDate="20240310", StudyDate="", SeriesDate="20240311")) == 1
    assert (age_in_days(_ds(PatientAge="045Y", PatientBirthDate="20240310", StudyDate="20240314")) or 0) > 28
    assert age_in_days(_ds(PatientBirthDate="20240320", StudyDate="20240314")) is None  # born after
    assert age_in_days(_ds(PatientBirthDate="not a date", StudyDate="20240314")) is None
    assert age_in_days(_ds(StudyDate="20240314")) is None  # no Patient's Birth Date at all
    assert age_in_days(_ds(PatientBirthDate="", StudyDate="20240314")) is None


def test_gate_answers_newborns_only_and_follows_its_params() -> None:
    newborn, child = _ds(PatientAge="028D"), _ds(PatientAge="029D")
    unknown = _ds(PatientName="X")
    default = gate_from_params({})
    assert default == NewbornGate(28, "not assessed")
    assert default.refusal(newborn) is None and default.refusal(child) == NOT_NEWBORN
    assert default.refusal(unknown) == AGE_UNKNOWN
    lenient = gate_from_params({"newborn_max_days": "30", "missing_age": "Assess"})
    assert lenient.refusal(child) is None and lenient.refusal(unknown) is None
    for bad in ({"newborn_max_days": 2.5}, {"newborn_max_days": True}, {"missing_age": 0}):
        with pytest.raises(ConfigError):
            gate_from_params(bad)


@pytest.mark.parametrize(
    ("row", "column"), [(r, c) for r, c in itertools.product("LRHF", repeat=2) if r != c]
)
def test_patient_orientation_brings_any_frontal_film_to_the_standard_display(row: str, column: str) -> None:
    standard = np.arange(12).reshape(3, 4)  # rows towards the feet, columns towards the patient's left
    display = display_of(_ds(PatientOrientation=[row, column]))
    if {row, column} in ({"L", "R"}, {"H", "F"}):
        assert display.standard and "assumed" in display.source  # not a frontal orientation
        return
    stored = display.from_standard(standard)
    assert np.array_equal(display.to_standard(stored), standard)
    # standard[0, 0] is the patient's right, head corner: find where the orientation puts it
    rows, cols = stored.shape
    if row in "LR":
        expected = ((rows - 1) if column == "H" else 0, (cols - 1) if row == "R" else 0)
    else:
        expected = ((rows - 1) if column == "R" else 0, (cols - 1) if row == "H" else 0)
    assert stored[expected] == 0


def test_missing_or_lateral_orientation_assumes_the_standard_display() -> None:
    assert display_of(_ds()).standard
    assert display_of(_ds(PatientOrientation=["A", "F"])).standard
    assert display_of(_ds(PatientOrientation=["FL", "R"])).transpose  # oblique: the main letter decides


def test_pixel_spacing_with_magnification_and_without_any() -> None:
    assert pixel_spacing(_ds(PixelSpacing=[0.2, 0.3], ImagerPixelSpacing=[0.5, 0.5])) == (0.2, 0.3)
    magnified = _ds(ImagerPixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor=1.25)
    assert pixel_spacing(magnified) == pytest.approx((0.16, 0.16))
    assert pixel_spacing(_ds(PixelSpacing=[0, 0])) is None
    assert pixel_spacing(_ds(PixelSpacing=[0, 0], ImagerPixelSpacing=[0.1, 0.1])) == (0.1, 0.1)
    assert pixel_spacing(_ds()) is None
