"""Read the radiograph of a series folder for the ``rds`` pipeline: one decode, one float32 array.

The generic reader (:func:`inference.series_reader.read_series`) goes through the volume loader,
which widens every plane to 64-bit integers or floats, transposes it to (columns, rows) and back and
converts it once more to float32: five full-size copies, about 0.2 s for a 3000 x 3000 radiograph
on one core. A CR / DX is one grey single-frame image, so here its stored values are converted to
float32 once and rescaled and (MONOCHROME1) inverted in place, as the volume loader does it:

- modality values: Rescale Slope / Intercept applied (no Modality LUT, like the volume loader);
- MONOCHROME1 inverted against the image's own value range (``BitsStored``, rescaled), so dense is
  bright, as in the volume loader's arrays;
- spacing: Pixel Spacing, else Imager Pixel Spacing / Estimated Radiographic Magnification Factor.

Anything else (several images, multi-frame, colour) goes to the generic reader unchanged, so the
pipeline's errors for those inputs stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from dicom_node.errors import InputError
from inference.dicom_out.sanitize import TYPE2
from inference.pipeline import Series
from inference.series_reader import read_headers, read_series
from inference.volume.planes import optional_float


@dataclass(frozen=True)
class DenseBrightSeries(Series):
    """A series whose pixels are already inverted when the source is MONOCHROME1 (dense = bright)."""


def _stored_range(ds: Dataset) -> tuple[float, float]:
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _number(value: object, default: float) -> float:
    number = optional_float(value)
    return default if number is None else number


def decode_dense_bright(ds: Dataset) -> np.ndarray:
    """The image's modality values as float32 (rows, cols), MONOCHROME1 inverted: one conversion."""
    try:
        stored = ds.pixel_array
    except (ValueError, TypeError, KeyError, AttributeError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"cannot decode the pixel data of the radiograph ({exc})") from None
    values = np.asarray(stored).astype(np.float32)  # always a new array: the in-place steps below own it
    if values.ndim != 2:
        raise InputError(f"radiograph pixel data of shape {values.shape}: expected one grey plane")
    slope = _number(ds.get("RescaleSlope"), 1.0)
    intercept = _number(ds.get("RescaleIntercept"), 0.0)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        low, high = (v * slope + intercept for v in _stored_range(ds))
        np.subtract(np.float32(low + high), values, out=values)
    return values


def pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(between rows, between columns) in mm at the patient: Pixel Spacing, else Imager Pixel Spacing
    divided by the Estimated Radiographic Magnification Factor (when one above zero is given); None
    when neither holds two values above zero (absent, empty, 0\\0): areas are then given in pixels."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is None or isinstance(value, str | bytes) or len(value) != 2:
            continue
        rows, cols = _number(value[0], 0.0), _number(value[1], 0.0)
        if rows > 0 and cols > 0:
            if keyword == "ImagerPixelSpacing":
                magnification = _number(ds.get("EstimatedRadiographicMagnificationFactor"), 1.0)
                if magnification > 0:
                    rows, cols = rows / magnification, cols / magnification
            return rows, cols
    return None


def complete_type2(ds: Dataset) -> None:
    """Add the Type 2 attributes the writers copy (``sanitize.TYPE2``) that ``ds`` lacks, empty."""
    for keyword in TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")


def read_radiograph(folder: Path) -> Series:
    """The one radiograph in ``folder`` decoded once (see the module text); other series as
    :func:`~inference.series_reader.read_series` reads them. Absent Type 2 patient / study attributes
    are added empty (:func:`complete_type2`)."""
    headers = read_headers(Path(folder))
    ds = headers.datasets[0]
    single = len(headers.datasets) == 1 and len(headers.frames) == 1
    if not single or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        series = read_series(Path(folder))
        for dataset in series.datasets:
            complete_type2(dataset)
        return series
    complete_type2(ds)
    pixels = decode_dense_bright(ds)
    if pixels.shape != headers.pixels.shape[1:]:
        raise InputError(f"radiograph pixel data of shape {pixels.shape} != Rows x Columns")
    spacing = pixel_spacing(ds)
    return DenseBrightSeries(
        datasets=headers.datasets,
        frames=headers.frames,
        pixels=pixels[None],
        spacing_mm=None if spacing is None else (0.0, *spacing),
    )
