"""Small synthetic source series for the pipeline / writer tests (pydicom, realistic Patient/Study).

A bright ellipsoid "body" in a dark background, so the qc pipeline's mask is known in advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

KOREAN_NAME = "Hong^Gildong=洪^吉洞=홍^길동"
KOREAN_CHARSET = ["", "ISO 2022 IR 149"]


@dataclass(frozen=True)
class Identity:
    patient_name: str = "Doe^Jane"
    patient_id: str = "PID-0001"
    charset: str | list[str] = "ISO_IR 100"
    birth_date: str = "19700101"
    sex: str = "F"
    accession: str = "ACC-42"


KOREAN = Identity(patient_name=KOREAN_NAME, patient_id="KR-0007", charset=KOREAN_CHARSET, sex="M")


def phantom(frames: int, rows: int, cols: int, inside: float, outside: float) -> np.ndarray:
    """An ellipsoid of value ``inside`` in a box of ``outside``, shape (frames, rows, cols)."""
    z, y, x = np.mgrid[:frames, :rows, :cols].astype(float)
    cz = (frames - 1) / 2
    r = ((y - rows / 2) / (rows * 0.35)) ** 2 + ((x - cols / 2) / (cols * 0.3)) ** 2
    if frames > 1:
        r = r + ((z - cz) / max(frames * 0.6, 1)) ** 2
    return np.where(r <= 1.0, inside, outside)


def _base(identity: Identity, study_uid: str, series_uid: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = identity.charset
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = identity.birth_date
    ds.PatientSex = identity.sex
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.StudyID = "S1"
    ds.AccessionNumber = identity.accession
    ds.ReferringPhysicianName = "Kim^Doctor"
    ds.StudyDescription = "synthetic study"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 3
    ds.SeriesDescription = f"synthetic {modality}"
    ds.Modality = modality
    ds.Manufacturer = "SyntheticScanner"
    ds.InstitutionName = "Test Hospital"
    ds.BodyPartExamined = "CHEST" if modality in ("CR", "DX") else "ABDOMEN"
    if modality not in ("CR", "DX"):
        ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    return ds


def _save(ds: Dataset, sop_class: str, path: Path) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def write_slices(
    folder: Path,
    modality: str = "CT",
    frames: int = 6,
    size: tuple[int, int] = (48, 40),
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.7),
    identity: Identity = Identity(),
) -> list[Path]:
    """A single-frame CT or MR series, one file per slice, files named in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    ct = modality == "CT"
    stored = phantom(frames, *size, inside=1064.0 if ct else 800.0, outside=24.0 if ct else 5.0)
    paths = []
    order = np.random.default_rng(0).permutation(frames)
    for k in range(frames):
        ds = _base(identity, study, series, modality)
        sop_class = CTImageStorage if ct else MRImageStorage
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = frame_of_ref
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [-20.0, -30.0, 100.0 + k * spacing[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.AcquisitionNumber = 1
        ds.Rows, ds.Columns = size
        if ct:
            ds.KVP = 120
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.RescaleType = "HU"
        else:
            ds.ScanningSequence = "GR"
            ds.SequenceVariant = "SP"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D"
            ds.RepetitionTime = 8.0
            ds.EchoTime = 3.0
            ds.EchoTrainLength = 1
            ds.MagneticFieldStrength = 3
        ds.PixelRepresentation = 0
        ds.PixelData = stored[k].astype(np.uint16).tobytes()
        path = folder / f"img{order[k]:03d}.dcm"
        _save(ds, sop_class, path)
        paths.append(path)
    return paths


def write_projection(folder: Path, identity: Identity = Identity(), size: tuple[int, int] = (64, 56)) -> Path:
    """One DX chest image (no 3D geometry; Imager Pixel Spacing only)."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = _base(identity, generate_uid(), generate_uid(), "DX")
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PatientOrientation = ["L", "F"]
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.Rows, ds.Columns = size
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.ContentDate = "20240315"
    ds.ContentTime = "101500"
    ds.ImageLaterality = "U"
    region = Dataset()
    region.CodeValue = "51185008"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = [region]
    ds.BurnedInAnnotation = "NO"
    ds.DetectorType = "SCINTILLATOR"
    ds.ViewPosition = "PA"
    ds.PixelData = phantom(1, *size, inside=3000.0, outside=100.0)[0].astype(np.uint16).tobytes()
    path = folder / "dx.dcm"
    _save(ds, ds.SOPClassUID, path)
    return path


def write_enhanced_mr(folder: Path, frames: int = 5, size: tuple[int, int] = (40, 40)) -> Path:
    """One Enhanced MR file holding a small volume (multi-frame source)."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = _base(Identity(), generate_uid(), generate_uid(), "MR")
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.ContentDate = "20240315"
    ds.ContentTime = "101500"
    ds.ManufacturerModelName = "Synth"
    ds.DeviceSerialNumber = "1"
    ds.SoftwareVersions = "1"
    ds.AcquisitionDateTime = "20240315101500"
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = size
    ds.PixelRepresentation = 0
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [1.0, 1.0]
    measures.SliceThickness = 2.0
    shared.PixelMeasuresSequence = [measures]
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for k in range(frames):
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
        item.PlanePositionSequence = [position]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = phantom(frames, *size, inside=900.0, outside=10.0).astype(np.uint16).tobytes()
    path = folder / "enhanced.dcm"
    _save(ds, EnhancedMRImageStorage, path)
    return path
