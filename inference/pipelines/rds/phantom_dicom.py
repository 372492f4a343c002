"""A phantom case as a CR DICOM file (for the demo, the benchmark and the tests; no real patient)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from dicom_node import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_NAME
from inference.pipelines.rds.phantom import PhantomCase, make_case

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def write_phantom_cr(
    path: Path,
    case: PhantomCase,
    spacing_mm: float = 0.2,
    bits: int = 12,
    monochrome1: bool = True,
    patient_name: str = "PHANTOM^NEONATE",
) -> Path:
    """Write ``case.image`` as a one-image CR series (Imager Pixel Spacing, MONOCHROME1 by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    top = 2**bits - 1
    values = case.image if not monochrome1 else 1.0 - case.image
    pixels = np.round(np.clip(values, 0, 1) * top).astype(np.uint16)
    now = dt.datetime.now()
    ds = Dataset()
    sop_uid = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(CR_IMAGE_STORAGE)
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_NAME
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = "PHANTOM1"
    ds.Modality = "CR"
    ds.Manufacturer = "dicom-node phantom generator"
    ds.ReferringPhysicianName = ""
    ds.PatientName = patient_name
    ds.PatientID = "PHANTOM0001"
    ds.PatientBirthDate = now.strftime("%Y%m%d")
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = "CHEST AP BABYGRAM (synthetic phantom)"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "AP"
    ds.PatientOrientation = ["L", "F"]
    ds.ImagerPixelSpacing = [spacing_mm, spacing_mm]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def demo_input(folder: Path) -> list[Path]:
    """The demo's input for rds (the registry's ``demo_input``): one phantom neonatal radiograph with RDS."""
    return [write_phantom_cr(folder / "CR0001.dcm", make_case(np.random.default_rng(7), size=512, rds=True))]
