"""Read a folder holding one series into a :class:`~inference.pipeline.Series` (source geometry).

Frames stay on the source planes, in the order the SEG writer needs: single-frame images sorted along
the slice normal (Image Position Patient), else by Instance Number; a multi-frame image keeps its own
frame order. Non-DICOM files and instances without pixel data are skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_rescale

from dicom_node.errors import InputError
from inference.pipeline import FrameRef, Series
from inference.volume import Volume, VolumeError, load_series

log = logging.getLogger(__name__)


def _read_images(folder: Path) -> list[Dataset]:
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    images: list[Dataset] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError):
            log.debug("skipping non-DICOM file %s", path.name)
            continue
        if "PixelData" in ds:
            images.append(ds)
    if not images:
        raise InputError(f"{folder}: no DICOM image found")
    series_uids = {str(ds.get("SeriesInstanceUID", "")) for ds in images}
    if len(series_uids) > 1:
        raise InputError(f"{folder}: holds {len(series_uids)} series, expected one")
    return images


def _slice_key(ds: Dataset) -> tuple[float, int]:
    position = ds.get("ImagePositionPatient")
    orientation = ds.get("ImageOrientationPatient")
    number = int(ds.get("InstanceNumber", 0) or 0)
    if position is None or orientation is None:
        return (float(number), number)
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    return (float(np.dot(np.cross(row, col), np.asarray(position, float))), number)


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            return float(value[0]), float(value[1])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        value = shared[0].PixelMeasuresSequence[0].get("PixelSpacing")
        if value is not None:
            return float(value[0]), float(value[1])
    return None


def _slice_spacing(images: list[Dataset]) -> float:
    if len(images) > 1:
        gaps = np.diff([_slice_key(ds)[0] for ds in images])
        if np.all(gaps > 0):
            return float(np.median(gaps))
    ds = images[0]
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        if ds.get(keyword) not in (None, ""):
            return float(ds.get(keyword))
    return 0.0


def series_from_volume(volume: Volume) -> Series | None:
    """The pipeline view of a loaded volume (first time point); None for a Siemens mosaic."""
    first = [slices[0] for slices in volume.frames]
    if any(ref.mosaic_tile is not None for ref in first):
        return None
    index = {str(ds.SOPInstanceUID): i for i, ds in enumerate(volume.datasets)}
    frames = [FrameRef(index[ref.sop_instance_uid], ref.frame_number or 1) for ref in first]
    array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
    pixels = np.ascontiguousarray(np.transpose(array, (2, 1, 0)), dtype=np.float32)
    col, row, between = volume.spacing
    spacing = (0.0 if volume.is_projection else between, row, col)
    return Series(
        datasets=list(volume.datasets), frames=frames, pixels=pixels, spacing_mm=spacing, volume=volume
    )


def read_series(folder: Path) -> Series:
    """Read the one series in ``folder`` with the volume loader, else with the tolerant reader below.

    The volume loader refuses series that are not one consistent volume (uneven spacing, missing
    slices...); pipelines that need a true volume check ``Series.volume``. The tolerant reader keeps
    any stack of equally sized images, so the model-free ``qc`` pipeline runs on every series.
    """
    try:
        series = series_from_volume(load_series(Path(folder)))
    except VolumeError as exc:
        log.info("volume loader refused the series, reading it as a plain stack: %s", exc.problem)
        series = None
    return series if series is not None else read_stack(Path(folder))


def _modality_values(ds: Dataset) -> np.ndarray:
    """Decoded pixels with Rescale Slope/Intercept applied; a damaged image is an InputError naming it."""
    try:
        return np.asarray(apply_rescale(ds.pixel_array, ds), dtype=np.float32)
    except (ValueError, TypeError, KeyError, AttributeError, NotImplementedError, RuntimeError) as exc:
        name = Path(str(ds.get("filename", "") or getattr(ds, "filename", "") or "image")).name
        raise InputError(f"{name}: cannot decode the pixel data ({exc})") from None


def read_headers(folder: Path) -> Series:
    """The images of one series without decoding their pixels, for pipelines that decode on their own.

    ``pixels`` is a zero placeholder of the right shape (allocated lazily by the OS, so it costs no
    memory until written); ``spacing_mm`` is None.
    """
    images = _read_images(Path(folder))
    images.sort(key=_slice_key)
    frames = [
        FrameRef(i, f + 1)
        for i, ds in enumerate(images)
        for f in range(int(ds.get("NumberOfFrames", 1) or 1))
    ]
    rows, cols = int(images[0].Rows), int(images[0].Columns)
    return Series(
        datasets=images,
        frames=frames,
        pixels=np.zeros((len(frames), rows, cols), np.float32),
        spacing_mm=None,
    )


def read_stack(folder: Path) -> Series:
    """Read all images of one series in ``folder``; raise InputError if there is none or several."""
    images = _read_images(Path(folder))
    if len(images) == 1 and int(images[0].get("NumberOfFrames", 1) or 1) > 1:
        ds = images[0]
        frames = [FrameRef(0, i + 1) for i in range(int(ds.NumberOfFrames))]
        pixels = _modality_values(ds)
        plane = _pixel_spacing(ds)
        shared = ds.get("SharedFunctionalGroupsSequence")
        thickness = 0.0
        if shared and "PixelMeasuresSequence" in shared[0]:
            thickness = float(shared[0].PixelMeasuresSequence[0].get("SliceThickness", 0) or 0)
        spacing = (thickness, *plane) if plane else None
        return Series(datasets=[ds], frames=frames, pixels=pixels, spacing_mm=spacing)
    images.sort(key=_slice_key)
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in images}
    if len(shapes) > 1:
        raise InputError(f"{folder}: images of different sizes {sorted(shapes)}")
    stack = [_modality_values(ds) for ds in images]
    pixels = np.stack([a if a.ndim == 2 else a[..., 0] for a in stack])
    plane = _pixel_spacing(images[0])
    spacing = (_slice_spacing(images), *plane) if plane else None
    frames = [FrameRef(i, 1) for i in range(len(images))]
    return Series(datasets=images, frames=frames, pixels=pixels, spacing_mm=spacing)
