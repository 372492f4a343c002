"""Resample a series to the models' conformed grid (1 mm, 256^3, LIA) and label maps back (SimpleITK).

The brainchop models were trained on FreeSurfer-"conformed" volumes: 256^3 voxels of 1 mm, axes
pointing Left, Inferior, Anterior (LIA), intensities scaled to 0-255, the array read in nibabel
(x, y, z) order. We build that grid around the centre of the source volume (as ``mri_convert --conform``
does), resample with linear interpolation, scale intensities robustly (0 to the 99.9th percentile → 0-255),
and bring label maps back onto the source voxels with nearest-neighbour interpolation.

Geometry is in DICOM LPS, as in :class:`inference.volume.Volume` (ITK is LPS too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

SIZE = 256
SPACING_MM = 1.0
# Columns: the LPS direction of the conformed axes i, j, k = Left, Inferior, Anterior.
LIA_DIRECTION = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])
UPPER_PERCENTILE = 99.9


@dataclass(frozen=True)
class Grid:
    """A voxel grid: array shape in (i, j, k) order and the affine voxel index → LPS mm."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def image(self, array_ijk: np.ndarray) -> sitk.Image:
        """A SimpleITK image of ``array_ijk`` (indexed i, j, k) on this grid."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array_ijk, (2, 1, 0))))
        spacing = np.linalg.norm(self.affine[:3, :3], axis=0)
        image.SetSpacing([float(s) for s in spacing])
        image.SetDirection([float(v) for v in (self.affine[:3, :3] / spacing).ravel()])
        image.SetOrigin([float(v) for v in self.affine[:3, 3]])
        return image

    def centre(self) -> np.ndarray:
        """LPS position of the centre of the grid."""
        middle = (np.asarray(self.shape, float) - 1.0) / 2.0
        return np.asarray(self.affine @ np.append(middle, 1.0))[:3]


def conformed_grid(source: Grid) -> Grid:
    """The 256^3 1 mm LIA grid centred on the centre of ``source``."""
    affine = np.eye(4)
    affine[:3, :3] = LIA_DIRECTION * SPACING_MM
    affine[:3, 3] = source.centre() - affine[:3, :3] @ np.full(3, (SIZE - 1) / 2.0)
    return Grid((SIZE, SIZE, SIZE), affine)


def _array(image: sitk.Image) -> np.ndarray:
    return np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))


def resample(array_ijk: np.ndarray, source: Grid, target: Grid, labels: bool = False) -> np.ndarray:
    """``array_ijk`` on ``source`` resampled onto ``target`` (linear, or nearest neighbour for labels)."""
    image = source.image(array_ijk if labels else array_ijk.astype(np.float32))
    reference = target.image(np.zeros(target.shape, dtype=np.uint8))
    interpolator = sitk.sitkNearestNeighbor if labels else sitk.sitkLinear
    out = sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, image.GetPixelID())
    return _array(out)


def scale_intensities(array: np.ndarray) -> np.ndarray:
    """0-255 float32: 0 to the 99.9th percentile of the non-zero voxels, clipped (FreeSurfer-like)."""
    values = array[array > 0]
    upper = float(np.percentile(values, UPPER_PERCENTILE)) if values.size else 0.0
    if upper <= 0:
        return np.zeros(array.shape, dtype=np.float32)
    return (np.clip(array, 0.0, upper) * (255.0 / upper)).astype(np.float32)


def conform(array_ijk: np.ndarray, source: Grid) -> tuple[np.ndarray, Grid]:
    """The conformed volume (256^3 float32 in 0-255, LIA, index i, j, k) and its grid."""
    target = conformed_grid(source)
    return scale_intensities(resample(array_ijk, source, target)), target
