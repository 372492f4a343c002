"""The raw (byte-level) engine gives what the dataset engine gives, or hands the file over to it."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian

from anonymizer.check import read_dicom
from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizationRefused
from anonymizer.raw_codec import Fallback, TruncatedData
from anonymizer.raw_engine import RawAnonymizer, anonymize_file_bytes
from anonymizer.settings import PixelRule
from tests.anonymizer.test_real_files import _secondary_capture, _sr_with_references

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"
FILES = sorted(DATA.rglob("*.dcm"))
KEY = b"raw-engine-test-key-0123456789ab"
OPTION_SETS = {
    "basic": [],
    "modified-dates": ["retain_longitudinal_modified_dates", "clean_descriptors", "retain_safe_private"],
    "retain": [
        "retain_uids",
        "retain_longitudinal_full_dates",
        "retain_device_identity",
        "retain_descriptors",
    ],
    "clean": [
        "clean_structured_content",
        "clean_graphics",
        "retain_patient_characteristics",
        "retain_institution_identity",
        "retain_longitudinal_modified_dates",
    ],
}


def _encode(ds: Dataset, *, implicit: bool = False) -> bytes:
    buffer = BytesIO()
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _comparable(data: bytes) -> dict[str, Any]:
    ds = pydicom.dcmread(BytesIO(data))
    return {"meta": ds.file_meta.to_json_dict(), "data": ds.to_json_dict()}


def _assert_same(options: list[str], data: bytes) -> None:
    engine = Anonymizer(options, key=KEY)
    raw = RawAnonymizer(engine).anonymize_bytes(data)
    expected = engine.anonymize(pydicom.dcmread(BytesIO(data)))
    assert _comparable(raw.data) == _comparable(_encode(expected.dataset))
    assert raw.actions == expected.actions
    assert sorted(map(str, raw.mappings)) == sorted(map(str, expected.mappings))
    assert raw.date_offset_days == expected.date_offset_days
    assert raw.identity["SOPInstanceUID"] == expected.dataset.SOPInstanceUID
    assert raw.identity["PatientID"] == expected.dataset.PatientID


@pytest.mark.parametrize("set_name", OPTION_SETS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_real_files_same_as_dataset_engine(path: Path, set_name: str) -> None:
    _assert_same(OPTION_SETS[set_name], path.read_bytes())


@pytest.mark.parametrize("set_name", OPTION_SETS)
def test_implicit_vr_same_as_dataset_engine(set_name: str) -> None:
    ds = pydicom.dcmread(DATA / "siemens" / "epi_pe_ap-00001.dcm")
    _assert_same(OPTION_SETS[set_name], _encode(ds, implicit=True))


def _as_file(ds: Dataset, sop_class: str = "1.2.840.10008.5.1.4.1.1.88.22") -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = sop_class
    return ds


@pytest.mark.parametrize("set_name", OPTION_SETS)
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_structured_report_overlays_and_privates(set_name: str, implicit: bool) -> None:
    image = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    sr = _as_file(_sr_with_references(image))
    sr.add_new(0x60000010, "US", 4)
    sr.add_new(0x60003000, "OW", b"\x00\x01" * 4)
    sr.add_new(0x60004000, "LT", "overlay by Dr Smith")
    sr.add_new(0x50000005, "US", 1)
    sr.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    sr.add_new(0x0019100C, "IS", "1000")
    sr.add_new(0x00191011, "LO", "private text")
    sr.add_new(0x00290010, "LO", "ACME")
    sr.add_new(0x00291001, "SQ", [Dataset()])
    sr.ContentSequence[0].ContentSequence[0].add_new(0x00091010, "LO", "ACME")
    sr.StudyDate, sr.PatientBirthDate, sr.StudyDescription = "20200131", "19700101", "MR of Jane Doe"
    sr.SpecificCharacterSet = "ISO_IR 100"
    sr.OperatorsName = "Müller^Jörg"
    _assert_same(OPTION_SETS[set_name], _encode(sr, implicit=implicit))


def test_odd_length_values_are_padded() -> None:
    data = (DATA / "dx" / "dx_image.dcm").read_bytes()
    out = RawAnonymizer(Anonymizer(key=KEY)).anonymize_bytes(data).data
    ds = pydicom.dcmread(BytesIO(out))
    assert len(ds.PixelData) % 2 == 0  # the source's pixel data has an odd length
    assert RawAnonymizer(Anonymizer(key=KEY)).anonymize_bytes(out).actions  # our output reads back


@pytest.mark.parametrize("syntax", [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
def test_unhandled_transfer_syntax_goes_to_dataset_engine(syntax: str, tmp_path: Path) -> None:
    ds = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    buffer = BytesIO()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(syntax)
    little = syntax != ExplicitVRBigEndian
    pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=little, force_encoding=True)
    data = buffer.getvalue()
    engine = Anonymizer(key=KEY)
    raw = RawAnonymizer(engine)
    with pytest.raises(Fallback):
        raw.anonymize_bytes(data)
    (tmp_path / "in.dcm").write_bytes(data)
    result = anonymize_file_bytes(engine, raw, data, lambda _: read_dicom(tmp_path / "in.dcm"))
    assert result is not None
    out = pydicom.dcmread(BytesIO(result.data))
    assert out.PatientIdentityRemoved == "YES" and out.PatientID.startswith("ANON")


def test_not_dicom_and_truncated() -> None:
    engine = Anonymizer(key=KEY)
    raw = RawAnonymizer(engine)
    assert anonymize_file_bytes(engine, raw, b"not dicom", lambda _: None) is None
    data = (DATA / "dx" / "dx_image.dcm").read_bytes()
    with pytest.raises(TruncatedData):  # broken, not unusual: reported, never "repaired" by the other engine
        raw.anonymize_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedData):
        anonymize_file_bytes(engine, raw, data[: len(data) // 2], lambda _: None)


def test_burned_in_refused_and_pixel_rules_use_dataset_engine() -> None:
    data = _encode(_as_file(_secondary_capture("YES"), "1.2.840.10008.5.1.4.1.1.7"))
    with pytest.raises(AnonymizationRefused, match="BurnedInAnnotation is YES"):
        RawAnonymizer(Anonymizer(key=KEY)).anonymize_bytes(data)
    rule = PixelRule(manufacturer="acme", rows=8, columns=8, rectangles=[(0, 0, 8, 2)])
    engine = Anonymizer(["clean_pixel_data"], key=KEY, pixel_rules=[rule])
    raw = RawAnonymizer(engine)
    with pytest.raises(Fallback, match="pixel"):
        raw.anonymize_bytes(data)
    result = anonymize_file_bytes(engine, raw, data, lambda b: pydicom.dcmread(BytesIO(b)))
    assert result is not None
    assert pydicom.dcmread(BytesIO(result.data)).pixel_array[:2].max() == 0


@pytest.mark.parametrize("set_name", ["basic", "clean"])
def test_multibyte_character_set_same_as_dataset_engine(set_name: str, tmp_path: Path) -> None:
    from dicom_node.samples import KOREAN_PATIENT, ct_series

    path = ct_series(tmp_path, KOREAN_PATIENT, slices=1, size=16)[0]
    _assert_same(OPTION_SETS[set_name], path.read_bytes())


def test_any_raw_engine_error_falls_back_but_refusals_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (DATA / "dx" / "dx_image.dcm").read_bytes()
    engine = Anonymizer(key=KEY)
    raw = RawAnonymizer(engine)
    expected = raw.anonymize_bytes(data)

    def broken(self: RawAnonymizer, buf: bytes) -> None:
        raise ValueError("unexpected")

    monkeypatch.setattr(RawAnonymizer, "anonymize_bytes", broken)
    result = anonymize_file_bytes(engine, raw, data, lambda b: pydicom.dcmread(BytesIO(b)))
    assert result is not None and _comparable(result.data) == _comparable(expected.data)
    screen = _encode(_as_file(_secondary_capture("YES"), "1.2.840.10008.5.1.4.1.1.7"))
    monkeypatch.undo()
    with pytest.raises(AnonymizationRefused):
        anonymize_file_bytes(engine, raw, screen, lambda b: pydicom.dcmread(BytesIO(b)))
