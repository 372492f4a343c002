"""Every encoding, every nesting: the same de-identified result whatever the transfer syntax and however
sequences are encoded (defined / undefined length, a standard sequence stored as UN, private sequences).

One source dataset (nested references three levels deep, an RT plan reference, a private sequence holding
a name) is written in each encoding; each file goes through the batch's path (raw engine, or the dataset
engine on fallback) and must come out identical to the others, pass the residual check against its source,
and hold none of the source's names or instance UIDs anywhere in its bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from anonymizer.check import read_dicom
from anonymizer.engine import Anonymizer
from anonymizer.raw_engine import RawAnonymizer, anonymize_file_bytes
from anonymizer.residual import CheckProfile, check_output
from anonymizer.table import build_action_table

KEY = b"encodings-test-key-0123456789abc"
RT_PLAN_REF = 0x300C0002
PLAN_UID = "1.2.123.456.78.9.0123.4567.89012345678901"
NAMES = ("Doe^Jane", "House^Gregory", "Wilson^James")
ENCAPSULATED = [
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.203",  # HTJ2K
]


def _item(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _source() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1002"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1003"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1004"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAMES[0], "PID-778899", "19610203"
    ds.AccessionNumber, ds.StudyDate, ds.StudyTime = "ACC4711", "20240105", "101500"
    ds.Modality, ds.Manufacturer, ds.InstitutionName = "CT", "ACME", "Springfield General"
    ds.ReferringPhysicianName = NAMES[1]
    code = _item(CodeValue="121311", CodingSchemeDesignator="DCM", CodeMeaning="Localizer")
    source_image = _item(
        ReferencedSOPClassUID=ds.SOPClassUID,
        ReferencedSOPInstanceUID="1.2.826.0.1.3680043.8.498.1005",
        PurposeOfReferenceCodeSequence=[code],
    )
    ds.SourceImageSequence = [source_image]
    ds.RequestAttributesSequence = [
        _item(
            RequestingPhysician=NAMES[2],
            AccessionNumber="ACC4711",
            ReferencedStudySequence=[
                _item(ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID="1.2.9.77.1")
            ],
        )
    ]
    ds.add_new(RT_PLAN_REF, "SQ", [_item(ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.481.5")])
    ds[RT_PLAN_REF].value[0].ReferencedSOPInstanceUID = PLAN_UID
    block = ds.private_block(0x0009, "ACME PRIVATE", create=True)
    block.add_new(0x01, "SQ", [_item(PatientName=NAMES[0], StudyInstanceUID=ds.StudyInstanceUID)])
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(range(16))
    return ds


def _file(ds: Dataset, syntax: str) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta.MediaStorageSOPClassUID = UID(ds.SOPClassUID)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    return ds


def _write(ds: Dataset, syntax: str) -> bytes:
    buffer = BytesIO()
    uid = UID(syntax)
    ds = _file(ds, syntax)
    if uid.is_compressed:
        ds.PixelData = encapsulate([bytes(range(16))])
        ds["PixelData"].VR = "OB"
        ds.save_as(buffer, enforce_file_format=True)
    else:
        ds.save_as(
            buffer,
            implicit_vr=uid.is_implicit_VR,
            little_endian=uid.is_little_endian,
            enforce_file_format=True,
        )
    return buffer.getvalue()


def _undefined(ds: Dataset) -> Dataset:
    """Every sequence and item of ``ds`` with undefined length."""
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                _undefined(item)
    return ds


def _as_un(undefined: bool) -> Callable[[], bytes]:
    """The RT plan reference stored as UN (its items in implicit VR, as PS3.5 6.2.2 requires)."""

    def make() -> bytes:
        ds = _source()
        sequence = ds[RT_PLAN_REF]
        del ds[RT_PLAN_REF]
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, True
        if undefined:
            sequence.is_undefined_length = True
            for item in sequence.value:
                item.is_undefined_length_sequence_item = True
        write_data_element(fp, sequence)
        items = fp.getvalue()[8:]
        length = b"\xff\xff\xff\xff" if undefined else len(items).to_bytes(4, "little")
        element = b"\x0c\x30\x02\x00UN\x00\x00" + length + items
        data = _write(ds, ExplicitVRLittleEndian)
        at = data.index(b"\xe0\x7f\x10\x00")  # before Pixel Data: elements stay in tag order
        return data[:at] + element + data[at:]

    return make


VARIANTS: dict[str, Callable[[], bytes]] = {
    "explicit-le": lambda: _write(_source(), ExplicitVRLittleEndian),
    "explicit-le-undefined": lambda: _write(_undefined(_source()), ExplicitVRLittleEndian),
    "implicit-le": lambda: _write(_source(), ImplicitVRLittleEndian),
    "implicit-le-undefined": lambda: _write(_undefined(_source()), ImplicitVRLittleEndian),
    "explicit-be": lambda: _write(_source(), ExplicitVRBigEndian),
    "deflated": lambda: _write(_undefined(_source()), DeflatedExplicitVRLittleEndian),
    "sq-as-un": _as_un(False),
    "sq-as-un-undefined": _as_un(True),
    **{f"encapsulated-{s}": (lambda s=s: _write(_source(), s)) for s in ENCAPSULATED},  # type: ignore[misc]
    "encapsulated-rle-undefined": lambda: _write(_undefined(_source()), "1.2.840.10008.1.2.5"),
}


def _anonymize(data: bytes) -> bytes:
    engine = Anonymizer(key=KEY)
    result = anonymize_file_bytes(engine, RawAnonymizer(engine), data, lambda b: read_dicom(BytesIO(b)))
    assert result is not None
    return result.data


def _comparable(data: bytes) -> dict[str, Any]:
    ds = pydicom.dcmread(BytesIO(data))
    del ds.PixelData  # native or encapsulated: the one part that differs by transfer syntax
    return ds.to_json_dict()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _comparable(_anonymize(VARIANTS["explicit-le"]()))


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_result_whatever_the_encoding(variant: str, reference: dict[str, Any]) -> None:
    data = VARIANTS[variant]()
    source = pydicom.dcmread(BytesIO(data))
    assert source[RT_PLAN_REF][0].ReferencedSOPInstanceUID == PLAN_UID  # the encoding reads back
    out = _anonymize(data)
    assert _comparable(out) == reference
    ds = pydicom.dcmread(BytesIO(out))
    assert ds[RT_PLAN_REF][0].ReferencedSOPInstanceUID.startswith("2.25.")
    assert check_output(ds, pydicom.dcmread(BytesIO(data)), CheckProfile(build_action_table())) == []
    text = out.decode("latin-1")
    for secret in (*NAMES, PLAN_UID, "1.2.826.0.1.3680043.8.498.100", "1.2.9.77.1", "PID-778899", "ACC4711"):
        for part in secret.split("^"):
            assert part not in text


def test_the_check_finds_a_uid_left_in_a_sequence_stored_as_un() -> None:
    data = _as_un(True)()
    out = pydicom.dcmread(BytesIO(_anonymize(data)))
    out[RT_PLAN_REF][0].ReferencedSOPInstanceUID = PLAN_UID  # what the engine did before the fix
    findings = check_output(out, pydicom.dcmread(BytesIO(data)), CheckProfile(build_action_table()))
    assert [(f.path, f.rule, f.severity) for f in findings] == [
        ("(300C,0002)[0]/(0008,1155)", "uid-not-remapped", "high")
    ]
