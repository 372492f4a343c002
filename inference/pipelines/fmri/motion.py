"""Rigid motion correction of every volume to the run's mean (SimpleITK) and framewise displacement.

Each volume is registered to the mean of all volumes with a rigid (Euler 3D) transform, mean squares
metric and regular-step gradient descent, then resampled onto the mean's grid (linear). For speed
(115 volumes of 64x64x37 in seconds on 2 cores) the registration runs on two levels of the fixed
image (shrunk by 4 and 2, Gaussian-smoothed by 2 and 1 voxels; a level is skipped when an axis would
keep fewer than 8 voxels, so a slab of a few slices is registered at full resolution), samples 10 %
of the voxels at random with a fixed seed (runs are reproducible), computes image gradients on the fly
(no gradient image per volume) and starts each volume from the previous volume's transform (head
motion is continuous). On a textured phantom with known motion the recovered parameters are within
~0.1 mm and ~0.002 rad (tests/inference/test_fmri_motion.py).

Framewise displacement follows Power et al. (2012): the sum of the absolute changes of the three
translations (mm) and of the three rotations converted to arc length on a 50 mm sphere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEAD_RADIUS_MM = 50.0
SAMPLING = 0.10
SEED = 7
SHRINK_FACTORS = (4, 2)  # the registration levels, coarse to fine, with their Gaussian smoothing
SMOOTHING_SIGMAS_VOXELS = (2.0, 1.0)
MIN_SHRUNK_VOXELS = 8  # a level is used only when every axis keeps at least this many voxels


@dataclass(frozen=True)
class MotionResult:
    corrected: np.ndarray  # (x, y, z, t) float32
    parameters: np.ndarray  # (t, 6): rotations about x, y, z (rad), translations x, y, z (mm)
    framewise_displacement: np.ndarray  # (t,), first value 0

    @property
    def mean_fd(self) -> float:
        fd = self.framewise_displacement
        return float(fd[1:].mean()) if fd.size > 1 else 0.0

    @property
    def max_fd(self) -> float:
        return float(self.framewise_displacement.max()) if self.framewise_displacement.size else 0.0


def to_sitk(array_xyz: np.ndarray, affine_lps: np.ndarray):  # type: ignore[no-untyped-def]
    """A SimpleITK image (LPS physical space, as ITK uses) from an (x, y, z) array and its affine."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array_xyz, (2, 1, 0)), dtype=np.float32))
    spacing = np.linalg.norm(affine_lps[:3, :3], axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (affine_lps[:3, :3] / spacing).ravel()])
    image.SetOrigin([float(v) for v in affine_lps[:3, 3]])
    return image


def framewise_displacement(parameters: np.ndarray) -> np.ndarray:
    """FD per volume (mm) from (t, 6) rigid parameters (3 rotations in rad, 3 translations in mm)."""
    if len(parameters) < 2:
        return np.zeros(len(parameters))
    delta = np.abs(np.diff(parameters, axis=0))
    fd = delta[:, 3:].sum(axis=1) + HEAD_RADIUS_MM * delta[:, :3].sum(axis=1)
    return np.concatenate([[0.0], fd])


def levels(size: tuple[int, ...]) -> tuple[list[int], list[float]]:
    """Shrink factors and smoothing sigmas (voxels) for an image of ``size``: the levels of
    SHRINK_FACTORS that keep MIN_SHRUNK_VOXELS on every axis (a thin slab of a few slices is
    registered at full resolution, unsmoothed)."""
    kept = [i for i, f in enumerate(SHRINK_FACTORS) if min(size) // f >= MIN_SHRUNK_VOXELS]
    if not kept:
        return [1], [0.0]
    return [SHRINK_FACTORS[i] for i in kept], [SMOOTHING_SIGMAS_VOXELS[i] for i in kept]


def _registration(iterations: int, size: tuple[int, ...]):  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    # gradients by finite differences at the sampled points: no gradient image computed per volume
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=0.5, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.5
    )
    method.SetOptimizerScalesFromPhysicalShift()
    shrink, sigmas = levels(size)
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def correct_motion(array: np.ndarray, affine_lps: np.ndarray, iterations: int = 100) -> MotionResult:
    """Register every volume of ``array`` (x, y, z, t) rigidly to the mean volume; resample onto it."""
    import SimpleITK as sitk

    n = array.shape[3]
    fixed = to_sitk(array.mean(axis=3), affine_lps)
    corrected = np.empty_like(array, dtype=np.float32)
    parameters = np.zeros((n, 6))
    centre = fixed.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in fixed.GetSize()])
    transform = sitk.Euler3DTransform()  # carried from volume to volume: each starts where the last ended
    transform.SetCenter(centre)
    for t in range(n):
        moving = to_sitk(array[..., t], affine_lps)
        if n > 1 and float(array[..., t].std()) > 0:
            method = _registration(iterations, array.shape[:3])
            method.SetInitialTransform(transform, inPlace=True)
            method.Execute(fixed, moving)
        parameters[t] = transform.GetParameters()
        resampled = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        corrected[..., t] = np.transpose(sitk.GetArrayFromImage(resampled), (2, 1, 0))
    parameters -= parameters[0]
    return MotionResult(corrected, parameters, framewise_displacement(parameters))
