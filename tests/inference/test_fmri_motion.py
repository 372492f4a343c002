"""fmri motion correction recovers known rigid motion (parameters and framewise displacement)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from inference.pipelines.fmri.motion import correct_motion, framewise_displacement, levels, to_sitk

SHAPE = (48, 48, 28)


def _moved_run(
    motions: np.ndarray, seed: int = 0, shape: tuple[int, int, int] = SHAPE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured ellipsoid "head" moved rigidly by each row of ``motions`` (rx, ry, rz rad, tx, ty, tz mm).

    Returns the run (x, y, z, t), its affine and the parameters that register each volume back onto
    the unmoved head (the inverse transforms), which is what the correction should find.
    """
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    head = ((x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.85) ** 2 < 1).astype(np.float32)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2.0).astype(np.float32)
    affine = np.diag([3.5, 3.5, 4.0, 1.0])
    affine[:3, 3] = [-84.0, -84.0, -54.0]
    image = to_sitk(head * (600 + 2000 * texture), affine)
    centre = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])
    run = np.empty((*shape, len(motions)), np.float32)
    inverse = np.zeros((len(motions), 6))
    for t, motion in enumerate(motions):
        transform = sitk.Euler3DTransform()
        transform.SetCenter(centre)
        transform.SetParameters([float(v) for v in motion])
        moved = sitk.Resample(image, image, transform, sitk.sitkLinear, 0.0)
        noise = rng.normal(0, 10, shape).astype(np.float32)
        run[..., t] = np.transpose(sitk.GetArrayFromImage(moved), (2, 1, 0)) + noise
        inverse[t] = transform.GetInverse().GetParameters()
    return run, affine, inverse - inverse[0]


def test_correction_recovers_known_motion_and_framewise_displacement() -> None:
    motions = np.array(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 1.5, 0, 0],
            [0, 0, 0.02, 1.5, -1.0, 0],
            [0.015, 0, 0.02, 0.5, -1.0, 0.8],
            [0.015, -0.01, 0, 0.5, 0, 0.8],
            [0, 0, 0, 0, 0, 0],
        ]
    )
    run, affine, expected = _moved_run(motions)
    result = correct_motion(run, affine)
    assert np.abs(result.parameters[:, 3:] - expected[:, 3:]).max() < 0.3  # mm
    assert np.abs(result.parameters[:, :3] - expected[:, :3]).max() < 0.005  # rad (0.25 mm at 50 mm)
    truth_fd = framewise_displacement(expected)
    assert truth_fd[1:].min() > 1.0  # every step moved
    assert np.abs(result.framewise_displacement - truth_fd).max() < 0.5
    assert abs(result.mean_fd - truth_fd[1:].mean()) < 0.25


def test_a_still_run_has_no_displacement() -> None:
    run, affine, _ = _moved_run(np.zeros((4, 6)))
    result = correct_motion(run, affine)
    assert result.max_fd < 0.2
    assert result.corrected.shape == run.shape


def test_levels_keep_a_thin_slab_at_full_resolution() -> None:
    assert levels((64, 64, 37)) == ([4, 2], [2.0, 1.0])
    assert levels((64, 64, 20)) == ([2], [1.0])
    assert levels((72, 72, 5)) == ([1], [0.0])  # e.g. the 5-slice Siemens mosaic of dcm_qa_nih


def test_correction_of_a_thin_slab_finds_an_in_plane_shift() -> None:
    motions = np.zeros((3, 6))
    motions[1, 3:] = [2.0, -1.0, 0.0]
    run, affine, expected = _moved_run(motions, shape=(48, 48, 6))
    result = correct_motion(run, affine)
    assert np.abs(result.parameters[:, 3:5] - expected[:, 3:5]).max() < 0.3
    assert abs(result.framewise_displacement[1] - 3.0) < 0.6
