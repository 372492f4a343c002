"""Fill the voxel array: each plane's own Rescale Slope/Intercept, one dtype for all, MONOCHROME1 inverted.

The dtype is chosen from the union of every plane's rescaled value range (not from the first slice):
integers when every slope and intercept is integral (the smallest of int16, uint16, int32, int64 that
holds the range), float32 otherwise.
"""

from __future__ import annotations

import numpy as np

from inference.volume.errors import VolumeError
from inference.volume.planes import Plane

INTEGER_DTYPES = (np.int16, np.uint16, np.int32, np.int64)


def output_dtype(planes: list[Plane]) -> np.dtype:
    """The narrowest dtype that holds every plane's rescaled values exactly."""
    integral = all(float(p.slope).is_integer() and float(p.intercept).is_integer() for p in planes)
    if not integral:
        return np.dtype(np.float32)
    lo = min(p.value_range()[0] for p in planes)
    hi = max(p.value_range()[1] for p in planes)
    for candidate in INTEGER_DTYPES:
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return np.dtype(candidate)
    return np.dtype(np.float64)


def plane_values(plane: Plane, dtype: np.dtype, series: str) -> np.ndarray:
    """The plane's voxel values, shape (columns, rows), rescaled and (MONOCHROME1) inverted."""
    try:
        stored = plane.pixels()
    except (ValueError, TypeError, KeyError, AttributeError, NotImplementedError, RuntimeError) as exc:
        raise VolumeError(series, f"{plane.source}: cannot decode the pixel data ({exc})") from None
    if stored.shape != (plane.rows, plane.columns):
        raise VolumeError(
            series,
            f"{plane.source}: pixel data of shape {stored.shape} (colour or multi-sample images are "
            f"not volumes; expected {plane.rows}x{plane.columns})",
        )
    work = np.float64 if dtype.kind == "f" else np.int64
    values: np.ndarray = stored.astype(work)
    if plane.slope != 1.0 or plane.intercept != 0.0:
        values = values * work(plane.slope) + work(plane.intercept)
    if plane.monochrome1:
        lo, hi = plane.value_range()
        values = work(lo) + work(hi) - values
    return values.T.astype(dtype, copy=False)


def fill(grid: list[list[Plane]], series: str) -> np.ndarray:
    """The voxel array ``(columns, rows, slices[, time])`` of a plane grid ``grid[slice][time]``."""
    planes = [p for group in grid for p in group]
    dtype = output_dtype(planes)
    first = grid[0][0]
    n_time = len(grid[0])
    array = np.empty((first.columns, first.rows, len(grid), n_time), dtype=dtype)
    for k, group in enumerate(grid):
        for t, plane in enumerate(group):
            array[:, :, k, t] = plane_values(plane, dtype, series)
    return array[..., 0] if n_time == 1 else array
