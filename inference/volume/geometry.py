"""Arrange planes into a (slice, time) grid and derive the LPS affine; refuse inconsistent series.

Slices are sorted by their position along the normal ``row cosine x column cosine``. Planes at the same
position are the time points of that slice (fMRI, multi-phase): every position must have the same
count. Spacing is checked over *all* slices: a missing slice, uneven spacing or a stray in-plane
offset is an error, never a silently wrong volume. A gantry tilt keeps its true geometry: the slice
axis of the affine follows the slice positions, so the affine is sheared rather than resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.volume.errors import VolumeError
from inference.volume.planes import Plane

ORIENTATION_TOLERANCE = 1e-3  # max difference of direction cosines between planes
SPACING_TOLERANCE = 1e-3  # relative difference allowed between pixel spacings
POSITION_TOLERANCE_MM = 0.01  # two planes closer than this along the normal share a position
EVEN_SPACING_FRACTION = 0.02  # allowed deviation from even slice spacing, as a fraction of the spacing


@dataclass
class Layout:
    """Planes on a grid ``grid[slice][time]`` and the affine voxel index → LPS mm."""

    grid: list[list[Plane]]
    affine: np.ndarray
    is_projection: bool = False


def _check_same(planes: list[Plane], series: str) -> None:
    sizes = sorted({(p.rows, p.columns) for p in planes})
    if len(sizes) > 1:
        listed = ", ".join(f"{r}x{c}" for r, c in sizes)
        raise VolumeError(series, f"mixed image sizes (rows x columns): {listed}")
    with_geometry = sum(p.has_geometry for p in planes)
    if 0 < with_geometry < len(planes):
        raise VolumeError(
            series, f"{len(planes) - with_geometry} of {len(planes)} images lack position or orientation"
        )
    spacings = [(p.row_spacing, p.column_spacing) for p in planes]
    if any(s is None for pair in spacings for s in pair):
        missing = next(p.source for p in planes if p.row_spacing is None)
        raise VolumeError(series, f"{missing}: no Pixel Spacing or Imager Pixel Spacing")
    values = np.asarray(spacings, dtype=np.float64)
    if np.any(np.abs(values - values[0]) > SPACING_TOLERANCE * values[0]):
        listed = ", ".join(f"{r:g}/{c:g}" for r, c in sorted({tuple(v) for v in values.tolist()}))
        raise VolumeError(series, f"mixed pixel spacings (row/column mm): {listed}")


def _check_orientation(planes: list[Plane], series: str) -> tuple[np.ndarray, np.ndarray]:
    row = np.asarray(planes[0].row_cosine)
    column = np.asarray(planes[0].column_cosine)
    for p in planes[1:]:
        if (
            np.max(np.abs(np.asarray(p.row_cosine) - row)) > ORIENTATION_TOLERANCE
            or np.max(np.abs(np.asarray(p.column_cosine) - column)) > ORIENTATION_TOLERANCE
        ):
            raise VolumeError(
                series,
                f"mixed orientations: {planes[0].source} has {np.round(np.r_[row, column], 4).tolist()}, "
                f"{p.source} has {np.round(np.r_[p.row_cosine, p.column_cosine], 4).tolist()}",
            )
    return row, column


def _group_positions(planes: list[Plane], normal: np.ndarray) -> list[list[Plane]]:
    """Planes grouped by position along the normal, groups sorted by that distance."""
    ordered = sorted(planes, key=lambda p: float(np.dot(normal, np.asarray(p.position))))
    groups: list[list[Plane]] = []
    last = -np.inf
    for plane in ordered:
        distance = float(np.dot(normal, np.asarray(plane.position)))
        if groups and distance - last <= POSITION_TOLERANCE_MM:
            groups[-1].append(plane)
        else:
            groups.append([plane])
            last = distance
    return groups


def _check_time_points(groups: list[list[Plane]], series: str) -> None:
    counts = [len(g) for g in groups]
    if len(set(counts)) > 1:
        expected = max(set(counts), key=counts.count)
        odd = [i for i, c in enumerate(counts) if c != expected]
        raise VolumeError(
            series,
            f"missing or extra images: {len(groups)} slice positions hold {min(counts)} to {max(counts)} "
            f"images each (most hold {expected}; slice positions {odd[:5]} differ)",
        )
    for group in groups:
        origin = np.asarray(group[0].position)
        for plane in group[1:]:
            if np.linalg.norm(np.asarray(plane.position) - origin) > 10 * POSITION_TOLERANCE_MM:
                raise VolumeError(
                    series, f"{plane.source} and {group[0].source} share a slice position but not an origin"
                )


def _slice_step(groups: list[list[Plane]], normal: np.ndarray, series: str) -> np.ndarray:
    """The vector from one slice to the next, checked against every slice position."""
    positions = np.asarray([g[0].position for g in groups], dtype=np.float64)
    if len(groups) == 1:
        return normal * (groups[0][0].slice_step or 1.0)
    step = (positions[-1] - positions[0]) / (len(groups) - 1)
    expected = positions[0] + np.arange(len(groups))[:, None] * step
    deviation = np.linalg.norm(positions - expected, axis=1)
    if np.max(deviation) > max(POSITION_TOLERANCE_MM, EVEN_SPACING_FRACTION * np.linalg.norm(step)):
        gaps = np.diff(positions @ normal)
        typical = float(np.median(gaps))
        worst = int(np.argmax(np.abs(gaps - typical)))
        ratio = float(gaps[worst]) / typical if typical > 0 else 0.0
        if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1:
            raise VolumeError(
                series,
                f"missing slice(s): a gap of {gaps[worst]:.4g} mm after slice {worst} where the spacing "
                f"is {typical:.4g} mm (about {round(ratio) - 1} slice(s) absent)",
            )
        raise VolumeError(
            series,
            f"uneven slice spacing: {float(np.min(gaps)):.4g} to {float(np.max(gaps)):.4g} mm "
            f"(after slice {worst}: {gaps[worst]:.4g} mm)",
        )
    return step


def _projection_affine(plane: Plane) -> np.ndarray:
    affine = np.eye(4)
    affine[0, 0] = plane.column_spacing or 1.0
    affine[1, 1] = plane.row_spacing or 1.0
    return affine


def arrange(planes: list[Plane], series: str, patient_orientation: np.ndarray | None = None) -> Layout:
    """The grid and affine of a series' planes, or a :class:`VolumeError` naming what is inconsistent."""
    if not planes:
        raise VolumeError(series, "no images")
    _check_same(planes, series)
    if not planes[0].has_geometry:
        if len(planes) > 1:
            raise VolumeError(
                series, f"{len(planes)} images without position/orientation (2D images load one at a time)"
            )
        affine = _projection_affine(planes[0])
        if patient_orientation is not None:
            affine[:3, :2] = patient_orientation.T * np.diag(affine)[:2]
            affine[:3, 2] = np.cross(patient_orientation[0], patient_orientation[1])
        return Layout([[planes[0]]], affine, is_projection=True)
    row, column = _check_orientation(planes, series)
    normal = np.cross(row, column)
    groups = _group_positions(planes, normal)
    _check_time_points(groups, series)
    for group in groups:
        group.sort(key=lambda p: (p.time_key, p.ref.sop_instance_uid))
    step = _slice_step(groups, normal, series)
    first = groups[0][0]
    affine = np.eye(4)
    affine[:3, 0] = row * float(first.column_spacing or 1.0)
    affine[:3, 1] = column * float(first.row_spacing or 1.0)
    affine[:3, 2] = step
    affine[:3, 3] = np.asarray(first.position)
    return Layout(groups, affine)
