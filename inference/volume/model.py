"""What a loaded series is: a numpy array, an LPS affine and a map back to the source frames.

Conventions (the contract with pipelines and writers):

* ``array`` axes are ``(column, row, slice[, time])``: ``array[i, j, k]`` is the pixel in column ``i``
  and row ``j`` of the ``k``-th slice, the NIfTI / ITK order (x fastest in the file).
* ``affine`` maps a voxel index ``(i, j, k, 1)`` to DICOM patient coordinates **LPS** in mm
  (x to the patient's left, y posterior, z head). :meth:`Volume.affine_ras` gives the NIfTI (RAS) form.
* Slices are ordered along the slice normal ``row cosine x column cosine`` (never by Instance Number);
  the fourth axis holds the repeats of every position (time points), ordered by the temporal position,
  then acquisition time, acquisition number, instance number and frame number.
* ``frames[k][t]`` is the :class:`FrameRef` of the source image of slice ``k`` at time ``t``.
* Voxel values have every frame's own Rescale Slope / Intercept applied (Philips MR: the precise
  floating-point values by default, see :mod:`inference.volume.philips`); MONOCHROME1 images are
  inverted so that larger values are brighter, as in MONOCHROME2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class FrameRef:
    """The source of one 2D slice: an instance and, for multi-frame files, its 1-based frame number."""

    sop_instance_uid: str
    frame_number: int | None = None
    sop_class_uid: str = ""
    mosaic_tile: int | None = None  # 0-based tile of a Siemens mosaic (frame_number stays None)


@dataclass
class Volume:
    """One series as voxels + geometry; see the module docstring for the axis and space conventions."""

    array: np.ndarray
    affine: np.ndarray
    frames: list[list[FrameRef]]
    series_instance_uid: str
    modality: str
    datasets: list[Dataset] = field(repr=False)
    is_projection: bool = False  # a 2D radiograph: the third axis has one slice and no real thickness

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the three spatial axes (column, row, slice)."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def n_timepoints(self) -> int:
        """Number of time points (1 for a 3D volume)."""
        return int(self.array.shape[3]) if self.array.ndim == 4 else 1

    def affine_ras(self) -> np.ndarray:
        """The affine in NIfTI's RAS+ world: ``diag(-1, -1, 1, 1) @ affine``."""
        return LPS_TO_RAS @ self.affine

    def frame_ref(self, slice_index: int, time_index: int = 0) -> FrameRef:
        """The source frame of slice ``slice_index`` at time point ``time_index``."""
        return self.frames[slice_index][time_index]
