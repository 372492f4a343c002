"""Siemens MOSAIC images: one file holds all slices of a volume as tiles; one plane per tile.

The tile count (NumberOfImagesInMosaic) and the slice normal come from the Siemens CSA image header
(private 0029,1010), parsed with :mod:`nibabel.nicom.csareader`. The file's Image Position (Patient)
describes the whole mosaic as if it were one large image; the first tile's position is corrected for
the tile size, and tile ``k`` lies ``k`` slice spacings along the CSA slice normal.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from functools import cache, partial

import numpy as np
from pydicom.dataset import Dataset

from inference.volume.errors import VolumeError
from inference.volume.model import FrameRef
from inference.volume.planes import Plane, single_frame_plane


def is_mosaic(ds: Dataset) -> bool:
    """True for a Siemens mosaic (Image Type contains MOSAIC)."""
    image_type = ds.get("ImageType") or []
    return "MOSAIC" in [str(v).upper() for v in image_type]


def _csa_mosaic_layout(ds: Dataset, series: str) -> tuple[int, np.ndarray | None]:
    """(number of tiles, slice normal or None) from the CSA image header."""
    with warnings.catch_warnings():  # nibabel.nicom warns that its DICOM *readers* are experimental
        warnings.simplefilter("ignore", UserWarning)
        from nibabel.nicom import csareader

    try:
        csa = csareader.get_csa_header(ds, "image")
    except csareader.CSAError as exc:
        raise VolumeError(series, f"mosaic without a readable Siemens CSA header: {exc}") from exc
    if csa is None:
        raise VolumeError(series, "mosaic without a Siemens CSA image header (0029,1010)")
    n_tiles = csareader.get_n_mosaic(csa)
    if not n_tiles:
        raise VolumeError(series, "mosaic whose CSA header has no NumberOfImagesInMosaic")
    normal = csareader.get_slice_normal(csa)
    return int(n_tiles), None if normal is None else np.asarray(normal, dtype=np.float64)


def mosaic_planes(ds: Dataset, source: str, series: str) -> list[Plane]:
    """One :class:`Plane` per tile, each with its own corrected position."""
    whole = single_frame_plane(ds, source)
    n_tiles, normal = _csa_mosaic_layout(ds, series)
    per_side = math.ceil(math.sqrt(n_tiles))
    if whole.rows % per_side or whole.columns % per_side:
        raise VolumeError(
            series, f"mosaic {whole.rows}x{whole.columns} does not split into {per_side}² tiles"
        )
    tile_rows, tile_columns = whole.rows // per_side, whole.columns // per_side
    if not whole.has_geometry or whole.row_spacing is None or whole.column_spacing is None:
        raise VolumeError(series, f"{source}: mosaic without position, orientation or pixel spacing")
    assert whole.position is not None and whole.row_cosine is not None and whole.column_cosine is not None
    if normal is None:
        normal = np.cross(whole.row_cosine, whole.column_cosine)
    step = whole.slice_step or 1.0
    first = (
        whole.position
        + whole.row_cosine * whole.column_spacing * (whole.columns - tile_columns) / 2
        + whole.column_cosine * whole.row_spacing * (whole.rows - tile_rows) / 2
    )

    @cache
    def decoded() -> np.ndarray:
        return np.asarray(ds.pixel_array)

    def tile(k: int) -> np.ndarray:
        r, c = divmod(k, per_side)
        return decoded()[r * tile_rows : (r + 1) * tile_rows, c * tile_columns : (c + 1) * tile_columns]

    return [
        dataclasses.replace(
            whole,
            ref=FrameRef(whole.ref.sop_instance_uid, None, whole.ref.sop_class_uid, mosaic_tile=k),
            rows=tile_rows,
            columns=tile_columns,
            position=first + k * step * normal,
            pixels=partial(tile, k),
        )
        for k in range(n_tiles)
    ]
