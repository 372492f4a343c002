"""Synthetic skin photographs as DICOM (VL Photographic Image Storage, modality XC) for tests and demos,
and the presentation state (GSPS) a viewer sends when a lesion is outlined on one.

Colour-by-pixel RGB (uncompressed) or JPEG Baseline in YBR_FULL_422, the way cameras and PACS store
photographs. The pixels come from :mod:`inference.pipelines.dermatitis.synthetic`; the identity is made up.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    JPEGBaseline8Bit,
    VLPhotographicImageStorage,
    generate_uid,
)

JPEG_QUALITY = 92


def jpeg_bytes(pixels: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG of an RGB uint8 image, YCbCr with 4:2:2 chroma subsampling (YBR_FULL_422)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def photograph_dataset(
    pixels: np.ndarray,
    jpeg: bool = True,
    study_uid: str | None = None,
    series_description: str = "Skin photo atopic dermatitis",
) -> Dataset:
    """A VL Photographic Image (RGB uint8 ``pixels``), JPEG Baseline YBR_FULL_422 or uncompressed RGB."""
    rows, cols = pixels.shape[:2]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Synthetic^Skin"
    ds.PatientID = "DERM-0001"
    ds.PatientBirthDate = "20150101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.StudyID = "D1"
    ds.AccessionNumber = "ACC-DERM"
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.SeriesDescription = series_description
    ds.Modality = "XC"
    ds.Manufacturer = "SyntheticCamera"
    ds.SOPClassUID = VLPhotographicImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.Laterality = ""
    ds.ContentDate = "20240315"
    ds.ContentTime = "101500"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.AcquisitionContextSequence = []
    ds.SamplesPerPixel = 3
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PlanarConfiguration = 0
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if jpeg:
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = round(pixels.size / len(jpeg_bytes(pixels)), 2)
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate([jpeg_bytes(pixels)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.LossyImageCompression = "00"
        ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def write_photograph(folder: Path, pixels: np.ndarray, jpeg: bool = True, name: str = "photo.dcm") -> Path:
    """Write one photograph into ``folder`` (created) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    photograph_dataset(pixels, jpeg=jpeg).save_as(path, enforce_file_format=True)
    return path


_PATIENT_AND_STUDY = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def lesion_presentation_state(photo: Dataset, outline: list[tuple[float, float]]) -> Dataset:
    """A Grayscale Softcopy Presentation State, in a series of its own, outlining a lesion on ``photo``.

    What a viewer sends when a clinician draws the lesion: same patient and study, a new PR series, the
    photograph referenced, and one closed POLYLINE (``outline`` in photograph pixels, column then row)
    on a graphic layer ``LESION``.
    """
    ds = Dataset()
    for keyword in _PATIENT_AND_STUDY:
        if keyword in photo:
            setattr(ds, keyword, photo[keyword].value)
    ds.SOPClassUID = GrayscaleSoftcopyPresentationStateStorage
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 99
    ds.SeriesDescription = "Lesion outline"
    ds.Modality = "PR"
    ds.Manufacturer = "SyntheticViewer"
    ds.InstanceNumber = 1
    ds.ContentLabel = "LESION"
    ds.ContentDescription = "Lesion outlined on the photograph"
    ds.Laterality = str(photo.get("Laterality", ""))
    ds.PresentationCreationDate = str(photo.get("ContentDate", "20240315"))
    ds.PresentationCreationTime = "103000"
    ds.ContentCreatorName = ""
    image = Dataset()
    image.ReferencedSOPClassUID = photo.SOPClassUID
    image.ReferencedSOPInstanceUID = photo.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = photo.SeriesInstanceUID
    series.ReferencedImageSequence = [image]
    ds.ReferencedSeriesSequence = [series]
    area = Dataset()
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [int(photo.Columns), int(photo.Rows)]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelAspectRatio = [1, 1]
    ds.DisplayedAreaSelectionSequence = [area]
    layer = Dataset()
    layer.GraphicLayer = "LESION"
    layer.GraphicLayerOrder = 1
    ds.GraphicLayerSequence = [layer]
    points = [*outline, outline[0]] if outline[0] != outline[-1] else list(outline)
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = "PIXEL"
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = len(points)
    graphic.GraphicData = [float(v) for point in points for v in point]
    graphic.GraphicType = "POLYLINE"
    graphic.GraphicFilled = "N"
    annotation = Dataset()
    annotation.ReferencedImageSequence = [image]
    annotation.GraphicLayer = "LESION"
    annotation.GraphicObjectSequence = [graphic]
    ds.GraphicAnnotationSequence = [annotation]
    ds.PresentationLUTShape = "IDENTITY"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds
