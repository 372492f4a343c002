"""A 2D plane of pixels with its geometry, rescale and time key: the unit every input kind becomes.

Single-frame images give one plane per file (here); enhanced multi-frame files one per frame
(:mod:`.multiframe`); Siemens mosaics one per tile (:mod:`.mosaic`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydicom.dataset import Dataset

from inference.volume.model import FrameRef

TimeKey = tuple[float, ...]


@dataclass
class Plane:
    """One 2D image: pixels on demand, patient geometry (LPS mm) and the per-frame rescale."""

    ref: FrameRef
    rows: int
    columns: int
    position: np.ndarray | None  # Image Position (Patient) of the first transmitted pixel
    row_cosine: np.ndarray | None  # direction of increasing column index
    column_cosine: np.ndarray | None  # direction of increasing row index
    row_spacing: float | None  # mm between rows (Pixel Spacing[0])
    column_spacing: float | None  # mm between columns (Pixel Spacing[1])
    slope: float
    intercept: float
    time_key: TimeKey
    pixels: Callable[[], np.ndarray]  # stored values, shape (rows, columns)
    bits_stored: int
    signed: bool
    monochrome1: bool
    slice_step: float | None = None  # Spacing Between Slices or Slice Thickness, for one-slice volumes
    source: str = ""  # file name, for error messages

    @property
    def has_geometry(self) -> bool:
        return self.position is not None and self.row_cosine is not None and self.column_cosine is not None

    def stored_range(self) -> tuple[float, float]:
        """The smallest and largest value the stored pixels can hold."""
        if self.signed:
            return (-(2.0 ** (self.bits_stored - 1)), 2.0 ** (self.bits_stored - 1) - 1)
        return (0.0, 2.0**self.bits_stored - 1)

    def value_range(self) -> tuple[float, float]:
        """The range of voxel values after this plane's own Rescale Slope / Intercept."""
        lo, hi = self.stored_range()
        a, b = lo * self.slope + self.intercept, hi * self.slope + self.intercept
        return (min(a, b), max(a, b))


def optional_float(value: object) -> float | None:
    """A DICOM number (DS/IS/FD/...) as float, or None when absent or empty."""
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def optional_vector(value: object, length: int) -> np.ndarray | None:
    """A multi-valued DICOM number as a float array of ``length``, or None when absent or malformed."""
    if value is None or value == "":
        return None
    try:
        vector = np.asarray([float(v) for v in value], dtype=np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return vector if vector.shape == (length,) else None


def dicom_seconds(date_time: object = None, date: object = None, time: object = None) -> float | None:
    """Seconds since the epoch for a DT value, or for a DA + TM pair (a TM alone: seconds in its day)."""
    text = str(date_time or "")
    if not text:
        if not time:
            return None
        text = str(date or "19700101") + str(time).replace(":", "")
    digits, _, fraction = text.partition(".")
    digits = digits.split("+")[0].split("-")[0].ljust(14, "0")[:14]
    try:
        whole = datetime.strptime(digits, "%Y%m%d%H%M%S").timestamp()
    except ValueError:
        return None
    frac = float("0." + fraction[:6]) if fraction[:6].isdigit() else 0.0
    return whole + frac


def time_key(*values: float | None) -> TimeKey:
    """A sortable key; a missing value sorts before any present one."""
    return tuple(-math.inf if v is None else float(v) for v in values)


def single_frame_plane(ds: Dataset, source: str) -> Plane:
    """The plane of a classic single-frame image (CT, MR, PET, CR, DX, ...)."""
    spacing = optional_vector(ds.get("PixelSpacing"), 2)
    if spacing is None:
        spacing = optional_vector(ds.get("ImagerPixelSpacing"), 2)
    orientation = optional_vector(ds.get("ImageOrientationPatient"), 6)
    slope = optional_float(ds.get("RescaleSlope"))
    intercept = optional_float(ds.get("RescaleIntercept"))
    return Plane(
        ref=FrameRef(str(ds.SOPInstanceUID), None, str(ds.get("SOPClassUID", ""))),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        position=optional_vector(ds.get("ImagePositionPatient"), 3),
        row_cosine=None if orientation is None else orientation[:3],
        column_cosine=None if orientation is None else orientation[3:],
        row_spacing=None if spacing is None else float(spacing[0]),
        column_spacing=None if spacing is None else float(spacing[1]),
        slope=1.0 if slope is None else slope,
        intercept=0.0 if intercept is None else intercept,
        time_key=time_key(
            optional_float(ds.get("TemporalPositionIdentifier")),
            optional_float(ds.get("TriggerTime")),
            dicom_seconds(
                ds.get("AcquisitionDateTime"), ds.get("AcquisitionDate"), ds.get("AcquisitionTime")
            ),
            optional_float(ds.get("AcquisitionNumber")),
            optional_float(ds.get("InstanceNumber")),
        ),
        pixels=lambda: np.asarray(ds.pixel_array),
        bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16),
        signed=int(ds.get("PixelRepresentation") or 0) == 1,
        monochrome1=str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1",
        slice_step=optional_float(ds.get("SpacingBetweenSlices")) or optional_float(ds.get("SliceThickness")),
        source=source,
    )
