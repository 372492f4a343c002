"""``load_series``: one DICOM series (files or a folder) → :class:`~inference.volume.model.Volume`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset
from pydicom.tag import Tag

from inference.volume import philips
from inference.volume.errors import VolumeError
from inference.volume.geometry import arrange
from inference.volume.model import Volume
from inference.volume.mosaic import is_mosaic, mosaic_planes
from inference.volume.multiframe import is_enhanced_multiframe, multiframe_planes
from inference.volume.pixels import fill
from inference.volume.planes import Plane, single_frame_plane
from inference.volume.reading import SeriesInput, one_series, read_images

log = logging.getLogger(__name__)

PIXEL_TAGS = frozenset(Tag(t) for t in (0x7FE00010, 0x7FE00008, 0x7FE00009))
# Patient Orientation letters → LPS unit vectors (PS3.3 C.7.6.1.1.1).
ORIENTATION_LETTERS = {
    "L": (1.0, 0.0, 0.0),
    "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "H": (0.0, 0.0, 1.0),
    "F": (0.0, 0.0, -1.0),
}


def header_only(ds: FileDataset) -> Dataset:
    """A copy of the dataset without its pixel data (the file meta is kept)."""
    header = Dataset({tag: element for tag, element in ds.items() if tag not in PIXEL_TAGS})
    header.file_meta = ds.file_meta
    return header


def series_label(ds: Dataset, uid: str) -> str:
    """How errors name a series: its UID, number and description (no patient data)."""
    number = ds.get("SeriesNumber")
    description = str(ds.get("SeriesDescription") or "").strip()
    parts = ([f"#{number}"] if number not in (None, "") else []) + (
        [repr(description)] if description else []
    )
    return f"{uid} ({' '.join(parts)})" if parts else uid


def patient_orientation(ds: Dataset) -> np.ndarray | None:
    """Row and column directions (2x3, LPS) from Patient Orientation, when it names two orthogonal axes."""
    value = ds.get("PatientOrientation")
    if not value or len(value) != 2:
        return None
    letters = [str(v)[:1].upper() for v in value]
    if any(letter not in ORIENTATION_LETTERS for letter in letters):
        return None
    directions = np.asarray([ORIENTATION_LETTERS[letter] for letter in letters])
    return directions if abs(float(np.dot(directions[0], directions[1]))) < 0.5 else None


def planes_of(path: Path, ds: FileDataset, label: str, scaling: str = philips.PRECISE) -> list[Plane]:
    """The 2D planes of one file, whatever kind of image it is (``scaling``: see :mod:`.philips`)."""
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise VolumeError(
            label, f"{path.name}: colour images ({ds.get('PhotometricInterpretation')}) are not volumes"
        )
    if is_enhanced_multiframe(ds):
        return philips.apply(multiframe_planes(ds, path.name), ds, scaling)
    if is_mosaic(ds):
        return mosaic_planes(ds, path.name, label)
    if int(ds.get("NumberOfFrames") or 1) > 1:
        raise VolumeError(label, f"{path.name}: multi-frame image without per-frame functional groups")
    return philips.apply([single_frame_plane(ds, path.name)], ds, scaling)


def load_series(source: SeriesInput, philips_scaling: str = philips.PRECISE) -> Volume:
    """Load one series into a :class:`Volume` (array ``(col, row, slice[, time])``, LPS affine, frame refs).

    Philips MR voxels are the precise floating-point values by default, as dcm2niix writes them;
    ``philips_scaling="display"`` keeps the display values (Rescale Slope / Intercept), see
    :mod:`inference.volume.philips`. Raises :class:`~inference.volume.errors.VolumeError` naming the
    series and the problem when the input is not one consistent series (several series, missing
    slices, mixed sizes or orientations...).
    """
    images = read_images(source)
    uid = one_series(images, str(source) if isinstance(source, str | Path) else "input")
    label = series_label(images[0][1], uid)
    planes = [plane for path, ds in images for plane in planes_of(path, ds, label, philips_scaling)]
    layout = arrange(planes, label, patient_orientation(images[0][1]))
    array = fill(layout.grid, label)
    volume = Volume(
        array=array,
        affine=layout.affine,
        frames=[[plane.ref for plane in group] for group in layout.grid],
        series_instance_uid=uid,
        modality=str(images[0][1].get("Modality", "")),
        datasets=[header_only(ds) for _, ds in images],
        is_projection=layout.is_projection,
    )
    log.info("volume.loaded series=%s shape=%s dtype=%s files=%d", uid, array.shape, array.dtype, len(images))
    return volume
