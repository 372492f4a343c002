"""Per-ROI time x point matrices and the ROI spheres in the subject's EPI grid.

A Power ROI is read at its 33 sphere sample points (:mod:`.atlas`), mapped MNI -> subject with the
normalisation and -> voxel with the inverse EPI affine, and interpolated (trilinear) in every volume.
Each point's time course is z-scored over time (zero mean, unit variance), so models do not depend on
the scanner's intensity scale. An ROI is *covered* when at least half of its points lie inside the
EPI field of view; uncovered ROIs are left out of the ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.pipelines.fmri import atlas

MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class RoiMatrices:
    rois: list[int]
    matrices: np.ndarray  # (rois, time, points) float32, z-scored over time
    coverage: np.ndarray  # (rois,) fraction of sample points inside the field of view

    def covered(self, roi: int) -> bool:
        return bool(self.coverage[self.rois.index(roi)] >= MIN_COVERAGE)


def mni_to_voxel(mni_to_subject: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """4x4 map from an MNI point (LPS mm) to a subject voxel index (continuous)."""
    return np.linalg.inv(affine_lps) @ mni_to_subject


def _voxels(points_lps: np.ndarray, to_voxel: np.ndarray) -> np.ndarray:
    flat = points_lps.reshape(-1, 3)
    return (flat @ to_voxel[:3, :3].T + to_voxel[:3, 3]).reshape(points_lps.shape)


def zscore(matrix: np.ndarray, axis: int = -2) -> np.ndarray:
    mean = matrix.mean(axis=axis, keepdims=True)
    std = matrix.std(axis=axis, keepdims=True)
    return ((matrix - mean) / np.where(std > 1e-6, std, 1.0)).astype(np.float32)


def extract(array: np.ndarray, to_voxel: np.ndarray, rois: list[int]) -> RoiMatrices:
    """Matrices (rois, time, 33) from a run ``array`` (x, y, z, t) and the MNI -> voxel map."""
    voxels = _voxels(atlas.sample_points_mni_lps(rois), to_voxel)  # (rois, points, 3)
    shape = np.array(array.shape[:3])
    inside = np.all((voxels >= -0.5) & (voxels <= shape - 0.5), axis=-1)
    n_t = array.shape[3]
    flat = voxels.reshape(-1, 3)
    values = np.empty((n_t, flat.shape[0]), dtype=np.float32)
    for t in range(n_t):
        values[t] = ndimage.map_coordinates(array[..., t], flat.T, order=1, mode="nearest")
    matrices = values.reshape(n_t, len(rois), -1).transpose(1, 0, 2)
    return RoiMatrices(rois=list(rois), matrices=zscore(matrices), coverage=inside.mean(axis=1))


def sphere_labels(
    shape: tuple[int, int, int], affine_lps: np.ndarray, mni_to_subject: np.ndarray, rois: list[int]
) -> np.ndarray:
    """Label volume (x, y, z) uint16: voxel = ROI number when its centre lies within 5 mm (in MNI).

    A sphere smaller than the voxels that holds no voxel centre gets the voxel nearest its centre
    (when that voxel is inside the grid), so every covered ROI is visible in the SEG.
    """
    labels = np.zeros(shape, dtype=np.uint16)
    subject_to_mni = np.linalg.inv(mni_to_subject)
    to_voxel = mni_to_voxel(mni_to_subject, affine_lps)
    index = np.indices(shape).reshape(3, -1).T.astype(float)
    world = index @ affine_lps[:3, :3].T + affine_lps[:3, 3]
    mni = world @ subject_to_mni[:3, :3].T + subject_to_mni[:3, 3]
    for number in rois:
        centre = np.array(atlas.roi(number).mni_ras) * np.array([-1.0, -1.0, 1.0])
        near = np.linalg.norm(mni - centre, axis=1) <= atlas.RADIUS_MM
        if near.any():
            labels.reshape(-1)[near & (labels.reshape(-1) == 0)] = number
            continue
        voxel = np.rint(to_voxel[:3, :3] @ centre + to_voxel[:3, 3]).astype(int)
        if np.all(voxel >= 0) and np.all(voxel < np.array(shape)) and labels[tuple(voxel)] == 0:
            labels[tuple(voxel)] = number
    return labels
