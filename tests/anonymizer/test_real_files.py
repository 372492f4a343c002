"""Real scanner files: no identity survives, dciodvfy finds nothing new, keyed output is reproducible."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizationRefused
from anonymizer.residual import CheckProfile, check_output
from anonymizer.settings import PixelRule
from anonymizer.table import build_action_table
from tests.support.dicom3tools import dciodvfy

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"
FILES = sorted(p for p in DATA.rglob("*.dcm"))
KEY = b"0123456789abcdef0123456789abcdef"
OPTION_SETS = {
    "basic": [],
    "modified-dates": ["retain_longitudinal_modified_dates", "clean_descriptors", "retain_safe_private"],
    "retain": [
        "retain_uids",
        "retain_longitudinal_full_dates",
        "retain_device_identity",
        "retain_descriptors",
    ],
}


def _identities(ds: Dataset) -> list[str]:
    values: list[str] = []
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber"):
        text = str(ds.get(keyword, "") or "")
        values.extend(p for p in re.split(r"[\^ ]", text) if len(p) >= 3)
    values += [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]
    return values


def _bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_identity_survives_basic_profile(path: Path) -> None:
    source = pydicom.dcmread(path)
    out = Anonymizer(key=KEY).anonymize(source).dataset
    raw = _bytes(out)
    for value in _identities(source):
        assert value.encode() not in raw, "an original identity value is still in the output bytes"
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert not any(int(t) >> 16 & 1 for t in list(out.keys()))
    assert check_output(out, source, CheckProfile(build_action_table()), path.name) == []


@pytest.mark.parametrize("set_name", OPTION_SETS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dciodvfy_finds_no_new_errors(path: Path, set_name: str, tmp_path: Path) -> None:
    out = Anonymizer(OPTION_SETS[set_name], key=KEY).anonymize(pydicom.dcmread(path)).dataset
    target = tmp_path / "out.dcm"
    out.save_as(target)

    def normalise(lines: list[str]) -> set[str]:
        return {re.sub(r"\s+", " ", line) for line in lines}

    new = normalise(dciodvfy(target).errors) - normalise(dciodvfy(path).errors)
    assert new == set()


def test_same_key_is_byte_identical_other_key_differs() -> None:
    path = DATA / "dx" / "dx_image.dcm"
    first = _bytes(Anonymizer(key=KEY).anonymize(pydicom.dcmread(path)).dataset)
    second = _bytes(Anonymizer(key=KEY).anonymize(pydicom.dcmread(path)).dataset)
    assert first == second
    a = Anonymizer(key=KEY).anonymize(pydicom.dcmread(path)).dataset
    b = Anonymizer(key=b"another key, another world......").anonymize(pydicom.dcmread(path)).dataset
    for keyword in ("PatientID", "PatientName", "AccessionNumber", "StudyInstanceUID", "SOPInstanceUID"):
        assert str(a.get(keyword)) != str(b.get(keyword))


def test_modified_dates_keep_intervals_and_patient_offset() -> None:
    anonymizer = Anonymizer(["retain_longitudinal_modified_dates"], key=KEY, date_offset_days=(-400, -10))
    source = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    out = anonymizer.anonymize(source)
    offset = out.date_offset_days
    assert offset is not None and -400 <= offset <= -10
    from datetime import datetime

    def days(a: str, b: str) -> int:
        return (datetime.strptime(a, "%Y%m%d") - datetime.strptime(b, "%Y%m%d")).days

    assert days(out.dataset.StudyDate, source.StudyDate) == offset
    assert days(out.dataset.ContentDate, out.dataset.StudyDate) == days(source.ContentDate, source.StudyDate)
    assert not out.dataset.PatientBirthDate  # Z in the table, no option keeps it
    assert out.dataset.StudyTime == source.StudyTime  # whole-day shift: times stay
    assert out.dataset.LongitudinalTemporalInformationModified == "MODIFIED"
    again = anonymizer.anonymize(pydicom.dcmread(DATA / "dx" / "dx_image.dcm"))
    assert again.date_offset_days == offset


def test_patient_characteristics_keep_age() -> None:
    source = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    kept = Anonymizer(["retain_patient_characteristics"], key=KEY).anonymize(source).dataset
    removed = Anonymizer(key=KEY).anonymize(source).dataset
    assert kept.PatientAge == source.PatientAge and kept.PatientSex == source.PatientSex
    assert "PatientAge" not in removed


def test_safe_private_keeps_siemens_csa_only() -> None:
    source = pydicom.dcmread(DATA / "siemens" / "epi_pe_ap-00001.dcm")
    out = Anonymizer(["retain_safe_private"], key=KEY).anonymize(source).dataset
    block = out.private_block(0x0029, "SIEMENS CSA HEADER")
    assert block[0x10].value == source.private_block(0x0029, "SIEMENS CSA HEADER")[0x10].value
    private = [int(t) for t in list(out.keys()) if int(t) >> 16 & 1]
    assert private and all(t >> 16 in (0x0019, 0x0029) for t in private)


def _sr_with_references(image: Dataset) -> Dataset:
    sr = Dataset()
    sr.PatientName, sr.PatientID = image.PatientName, image.PatientID
    sr.StudyInstanceUID = image.StudyInstanceUID
    sr.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    ref = Dataset()
    ref.ReferencedSOPClassUID = image.SOPClassUID
    ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = image.SeriesInstanceUID
    series.ReferencedSOPSequence = [ref]
    study = Dataset()
    study.StudyInstanceUID = image.StudyInstanceUID
    study.ReferencedSeriesSequence = [series]
    sr.CurrentRequestedProcedureEvidenceSequence = [study]
    text = Dataset()
    text.ValueType = "TEXT"
    text.RelationshipType = "CONTAINS"
    text.TextValue = f"Seen by {image.PatientName.family_name} at {image.InstitutionName}; stable."
    person = Dataset()
    person.ValueType = "PNAME"
    person.PersonName = "Smith^John"
    container = Dataset()
    container.ValueType = "CONTAINER"
    container.ContentSequence = [text, person]
    sr.ContentSequence = [container]
    sr.InstitutionName = image.InstitutionName
    return sr


def test_references_remapped_and_structured_content_cleaned() -> None:
    image = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    anonymizer = Anonymizer(["clean_structured_content"], key=KEY)
    sr_out = anonymizer.anonymize(_sr_with_references(image)).dataset
    image_out = anonymizer.anonymize(image).dataset
    study = sr_out.CurrentRequestedProcedureEvidenceSequence[0]
    series = study.ReferencedSeriesSequence[0]
    assert study.StudyInstanceUID == image_out.StudyInstanceUID
    assert series.SeriesInstanceUID == image_out.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == image_out.SOPInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPClassUID == image.SOPClassUID
    text, person = sr_out.ContentSequence[0].ContentSequence
    assert text.TextValue == "Seen by * at *; stable."  # the tree stays, identities go
    assert person.PersonName != "Smith^John"
    basic = Anonymizer(key=KEY).anonymize(_sr_with_references(image)).dataset
    assert basic.ContentSequence[0].ContentSequence[0].TextValue == "ANONYMIZED"


def _secondary_capture(burned: str | None) -> Dataset:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "OT", "ACME", "Shot 1"
    if burned is not None:
        ds.BurnedInAnnotation = burned
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 8, 8, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes([200]) * 64
    return ds


def test_burned_in_refused_unless_a_pixel_rule_cleans_it() -> None:
    with pytest.raises(AnonymizationRefused, match="burned-in"):
        Anonymizer(key=KEY).anonymize(_secondary_capture(None))
    with pytest.raises(AnonymizationRefused, match="BurnedInAnnotation is YES"):
        Anonymizer(key=KEY, burned_in_policy="trust_header").anonymize(_secondary_capture("YES"))
    trusted = Anonymizer(key=KEY, burned_in_policy="trust_header").anonymize(_secondary_capture("NO"))
    assert trusted.dataset.PixelData == bytes([200]) * 64
    rule = PixelRule(manufacturer="acme", rows=8, columns=8, rectangles=[(0, 0, 8, 2)])
    cleaned = Anonymizer(["clean_pixel_data"], key=KEY, pixel_rules=[rule]).anonymize(
        _secondary_capture("YES")
    )
    pixels = cleaned.dataset.pixel_array
    assert np.all(pixels[:2] == 0) and np.all(pixels[2:] == 200)
    assert cleaned.dataset.BurnedInAnnotation == "NO"
    assert "113101" in [i.CodeValue for i in cleaned.dataset.DeidentificationMethodCodeSequence]


def test_recognizable_visual_features_refuses_head_mr() -> None:
    ds = pydicom.dcmread(DATA / "ge" / "axial_epi_fmri_interleaved_i_to_s-00001.dcm")
    ds.BodyPartExamined = "HEAD"
    with pytest.raises(AnonymizationRefused, match="face"):
        Anonymizer(["clean_recognizable_visual_features"], key=KEY).anonymize(ds)
