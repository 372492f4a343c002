"""The real radiographs of ``tests/data/cxr_lungs`` wrapped as DICOM CR for the rds tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

DATA = Path(__file__).resolve().parents[1] / "data" / "cxr_lungs"
FILMS = {
    "peds-normal": ("peds", "IM-0037-0001.jpeg"),
    "peds-bacterial": ("peds", "person1165_bacteria_3111.jpeg"),
    "peds-viral": ("peds", "person1510_virus_2629.jpeg"),
    "adult-pa": ("adult", "4d98e1de.png"),
    "adult-ap-supine": ("adult", "1d435a4b.png"),
}
CR = "1.2.840.10008.5.1.4.1.1.1"


def film(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(grey pixels 0-255 float, reference labels 0/1/2) of a test film, standard display."""
    group, file = FILMS[name]
    with Image.open(DATA / group / "images" / file) as picture:
        grey = np.asarray(picture.convert("L"), dtype=np.float64)
    with Image.open(DATA / group / "masks" / f"{Path(file).stem}.png") as picture:
        labels = np.asarray(picture, dtype=np.uint8)
    return grey, labels


@dataclass(frozen=True)
class Header:
    age: str | None = None  # Patient's Age
    birth_days_before: int | None = None  # Patient's Birth Date this many days before the Study Date
    birth_date_absent: bool = True
    orientation: tuple[str, str] | None = ("L", "F")
    pixel_spacing: tuple[float, float] | None = (0.2, 0.2)  # Imager Pixel Spacing
    magnification: float | None = None
    monochrome1: bool = False
    bits: int = 12
    jpeg2000: bool = False


def write_cr(folder: Path, pixels: np.ndarray, header: Header) -> Path:
    """Write ``pixels`` (grey, dense = bright, any range) as a one-image CR series in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    top = 2**header.bits - 1
    scaled = (pixels - pixels.min()) / max(float(np.ptp(pixels)), 1e-6)
    values = 1.0 - scaled if header.monochrome1 else scaled
    stored = np.round(values * top).astype(np.uint16 if header.bits > 8 else np.uint8)
    study = dt.date(2024, 3, 14)
    ds = Dataset()
    uid = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(CR)
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CR, uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.AccessionNumber, ds.Modality, ds.Manufacturer, ds.ReferringPhysicianName = "A1", "CR", "test", ""
    ds.PatientName, ds.PatientID, ds.PatientSex = "TEST^FILM", "FILM1", "O"
    if header.age is not None:
        ds.PatientAge = header.age
    if header.birth_days_before is not None:
        ds.PatientBirthDate = (study - dt.timedelta(days=header.birth_days_before)).strftime("%Y%m%d")
    elif not header.birth_date_absent:
        ds.PatientBirthDate = ""
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", "AP"
    if header.orientation is not None:
        ds.PatientOrientation = list(header.orientation)
    if header.pixel_spacing is not None:
        ds.ImagerPixelSpacing = list(header.pixel_spacing)
    if header.magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = header.magnification
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if header.monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16 if header.bits > 8 else 8
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = header.bits, header.bits - 1, 0
    ds.PixelData = stored.tobytes()
    if header.jpeg2000:
        ds.compress(JPEG2000Lossless, stored)
    path = folder / "film.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def dice(predicted: np.ndarray, truth: np.ndarray, lung: int) -> float:
    p, t = predicted == lung, truth == lung
    return 2.0 * float((p & t).sum()) / max(1.0, float(p.sum() + t.sum()))


def codes_in(ds: Dataset) -> set[str]:
    """Every code value in the concept names and coded values of an SR content tree."""
    found: set[str] = set()
    for item in ds.get("ContentSequence", []):
        for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
            for code in item.get(keyword, []):
                found.add(str(code.CodeValue))
        found |= codes_in(item)
    return found
