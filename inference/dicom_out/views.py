"""Three orthogonal views of a volume through its findings, in the radiological display convention.

The planes go through one point: the centre of the labelled voxels on the key frame (else the heat-map
peak, else the volume's centre). Each plane is a slice of ``Series.pixels`` ([frame, row, column]),
resampled to square millimetres and turned so that the head (or, in an axial plane, the front) is at
the top and the patient's right on the left of the screen (front on the left in a sagittal plane),
whatever the acquisition plane. Directions come from the source's orientation and frame positions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from inference.dicom_out.render import Planes, key_frame
from inference.pipeline import Result, Series

MIN_FRAMES = 8  # fewer frames: the single key frame is shown


def _orientation(ds: Dataset, frame: int) -> np.ndarray | None:
    cosines = ds.get("ImageOrientationPatient")
    for groups in (ds.get("PerFrameFunctionalGroupsSequence"), ds.get("SharedFunctionalGroupsSequence")):
        if cosines is None and groups:
            item = groups[min(frame, len(groups) - 1)]
            if "PlaneOrientationSequence" in item:
                cosines = item.PlaneOrientationSequence[0].ImageOrientationPatient
    return np.asarray([float(v) for v in cosines]) if cosines is not None and len(cosines) == 6 else None


def _position(series: Series, index: int) -> np.ndarray | None:
    ref = series.frames[index]
    ds = series.datasets[ref.dataset_index]
    position = ds.get("ImagePositionPatient")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if position is None and per_frame and "PlanePositionSequence" in per_frame[ref.frame_number - 1]:
        position = per_frame[ref.frame_number - 1].PlanePositionSequence[0].ImagePositionPatient
    return np.asarray([float(v) for v in position]) if position is not None and len(position) == 3 else None


def axis_directions(series: Series) -> np.ndarray | None:
    """Unit LPS direction of increasing frame, row and column index (3 x 3), None without geometry."""
    ref = series.frames[0]
    cosines = _orientation(series.datasets[ref.dataset_index], ref.frame_number - 1)
    if cosines is None:
        return None
    along_row, along_column = cosines[:3], cosines[3:]
    first, last = _position(series, 0), _position(series, len(series.frames) - 1)
    normal = np.cross(along_row, along_column)
    if first is not None and last is not None and np.linalg.norm(last - first) > 0:
        normal = (last - first) / np.linalg.norm(last - first)
    return np.stack([normal, along_column, along_row])


def focus(series: Series, result: Result) -> tuple[int, int, int]:
    """(frame, row, column) the three planes go through."""
    index = key_frame(series, result)
    if result.label_map is not None and np.any(result.label_map.labels[index]):
        rows, cols = np.nonzero(result.label_map.labels[index])
        return index, int(rows.mean()), int(cols.mean())
    if result.heat_maps:
        heat = np.asarray(result.heat_maps[0].values[index])
        row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
        return index, int(row), int(col)
    return index, series.pixels.shape[1] // 2, series.pixels.shape[2] // 2


def _display(
    plane: np.ndarray, axes: tuple[int, int], directions: np.ndarray, mm: tuple[float, float]
) -> np.ndarray:
    """``plane`` (axes ``axes`` of the volume) turned for display and resampled to square millimetres."""
    first, second = directions[axes[0]], directions[axes[1]]
    # vertical: the axis closer to head-foot; in an axial plane, the one closer to front-back
    vertical_first = abs(first[2]) > abs(second[2]) or (
        abs(first[2]) == abs(second[2]) and abs(first[1]) >= abs(second[1])
    )
    if not vertical_first:
        plane, first, second, mm = np.swapaxes(plane, 0, 1), second, first, (mm[1], mm[0])
    up = 2 if abs(first[2]) >= abs(first[1]) else 1
    if (first[2] > 0) if up == 2 else (first[1] < 0):  # index runs towards the head / the front
        plane = plane[::-1]
    lateral = 0 if abs(second[0]) >= abs(second[1]) else 1
    if second[lateral] < 0:  # screen right = patient left (x+) or back (y+)
        plane = plane[:, ::-1]
    height, width = plane.shape[:2]
    size = (max(1, round(width * mm[1] / min(mm))), max(1, round(height * mm[0] / min(mm))))
    picture = Image.fromarray(np.ascontiguousarray(plane), mode="RGB").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(picture)


def orthogonal_views(series: Series, result: Result) -> list[np.ndarray] | None:
    """Three planes through the findings, or None when the series is not a volume with geometry."""
    if len(series.frames) < MIN_FRAMES or series.pixels.ndim != 3:
        return None
    directions = axis_directions(series)
    if directions is None:
        return None
    spacing = series.spacing_mm or (1.0, 1.0, 1.0)
    mm = tuple(float(s) if s and s > 0 else 1.0 for s in spacing)
    frame, row, col = focus(series, result)
    planes = Planes.of(series, result)
    views = []
    for axes, take in (
        ((1, 2), (frame, None, None)),
        ((0, 2), (None, row, None)),
        ((0, 1), (None, None, col)),
    ):
        rgb = planes.rgb(*take)
        views.append(_display(rgb, axes, directions, (mm[axes[0]], mm[axes[1]])))
    return views
