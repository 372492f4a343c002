"""Generated sample studies for the demo, the benchmarks and the tests (synthetic, no real patient).

Objects are built with pydicom, with complete Patient/Study/Series/Frame of Reference/Image Plane
modules, so that pipelines and writers see realistic geometry. Names can be Korean (ISO 2022 IR 149)
to keep character-set handling honest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from dicom_node import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_NAME

_CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


@dataclass
class Patient:
    name: str = "DEMO^PATIENT"
    patient_id: str = "DEMO0001"
    birth_date: str = "19700101"
    sex: str = "O"
    charset: str = "ISO_IR 100"
    accession: str = "ACC0001"
    study_uid: str = field(default_factory=generate_uid)


KOREAN_PATIENT = Patient(
    name="Hong^Gildong=洪^吉洞=홍^길동",
    patient_id="KR-0001",
    birth_date="19800101",
    sex="M",
    charset="\\ISO 2022 IR 149",
)


def _base(patient: Patient, sop_class: str, modality: str, series_uid: str, series_number: int) -> Dataset:
    ds = Dataset()
    sop_uid = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_NAME
    now = dt.datetime.now()
    charset: str | list[str] = patient.charset.split("\\") if "\\" in patient.charset else patient.charset
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = patient.accession
    ds.Modality = modality
    ds.Manufacturer = "dicom-node sample generator"
    ds.ReferringPhysicianName = ""
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.StudyInstanceUID = patient.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    return ds


def _set_pixels(ds: Dataset, pixels: np.ndarray, bits_stored: int) -> None:
    """Image Pixel module for a 16-bit grey image (signed when ``pixels`` is)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.tobytes()


def _phantom(size: int, z: float) -> np.ndarray:
    """A body-like ellipse with two darker 'lungs' and a bright 'spine', varying along z."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    image = np.full((size, size), -1000.0, dtype=np.float32)
    body = (xx / 0.42) ** 2 + (yy / 0.32) ** 2 <= 1
    image[body] = 40
    for cx in (-0.17, 0.17):
        lung = ((xx - cx) / 0.12) ** 2 + (yy / (0.2 + 0.03 * np.sin(z))) ** 2 <= 1
        image[lung] = -800
    spine = (xx / 0.04) ** 2 + ((yy - 0.2) / 0.04) ** 2 <= 1
    image[spine] = 700
    return image


def ct_series(
    folder: Path,
    patient: Patient | None = None,
    slices: int = 20,
    size: int = 128,
    description: str = "CHEST CT",
    images_in_acquisition: bool = False,
    series_number: int = 2,
) -> list[Path]:
    """Write a CT series (one file per slice) into ``folder``; returns the file paths."""
    patient = patient or Patient()
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, frame_uid = generate_uid(), generate_uid()
    spacing, thickness = 0.7, 2.5
    paths = []
    for k in range(slices):
        ds = _base(patient, CTImageStorage, "CT", series_uid, series_number)
        ds.SeriesDescription = description
        ds.BodyPartExamined = "CHEST"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = 1
        if images_in_acquisition:
            ds.ImagesInAcquisition = slices
        ds.ImagePositionPatient = [-size * spacing / 2, -size * spacing / 2, -k * thickness]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = thickness
        ds.KVP = 120
        _set_pixels(ds, (_phantom(size, k / 4) + 1024).astype(np.int16), bits_stored=16)
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        path = folder / f"CT{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def mr_series(folder: Path, patient: Patient | None = None, slices: int = 16, size: int = 64) -> list[Path]:
    patient = patient or Patient()
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, frame_uid = generate_uid(), generate_uid()
    paths = []
    for k in range(slices):
        ds = _base(patient, MRImageStorage, "MR", series_uid, 3)
        ds.SeriesDescription = "T1 MPRAGE SAG 3D"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.EchoTrainLength = 1
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-k * 1.0, -size / 2, size / 2]
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 1.0
        _set_pixels(ds, np.clip(_phantom(size, k / 3) + 1000, 0, 4095).astype(np.uint16), bits_stored=12)
        path = folder / f"MR{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def cr_image(folder: Path, patient: Patient | None = None, size: int = 256) -> Path:
    patient = patient or Patient()
    folder.mkdir(parents=True, exist_ok=True)
    ds = _base(patient, _CR_STORAGE, "CR", generate_uid(), 1)
    ds.SeriesDescription = "CHEST AP BABYGRAM"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "AP"
    ds.InstanceNumber = 1
    ds.ImagerPixelSpacing = [0.2, 0.2]
    _set_pixels(ds, np.clip((_phantom(size, 0.0) + 1000) * 2, 0, 4095).astype(np.uint16), bits_stored=12)
    path = folder / "CR0001.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path
