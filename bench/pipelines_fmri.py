"""Benchmark of the fmri pipeline: seconds per series on a generated 64x64x37x115 EPI run (2 CPU cores).

``run()`` builds a synthetic 4D run in memory (TR 3 s), times the pipeline's stages (motion
correction, MNI registration, ROI matrices, LSTMs) and prints the
seconds per stage. Uses the packaged bundle (demonstration weights) unless ``FMRI_BUNDLE`` is set.
"""

from __future__ import annotations

import os
import time

import numpy as np


def _run(
    shape: tuple[int, int, int, int] = (64, 64, 37, 115), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A 4D run (x, y, z, t): an ellipsoid "head" plus noise, and its voxel -> LPS affine."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape[:3]], indexing="ij")
    head = ((x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.9) ** 2 < 1).astype(np.float32) * 800
    array = head[..., None] + rng.normal(0, 20, shape).astype(np.float32)
    affine = np.diag([3.4, 3.4, 3.5, 1.0])
    affine[:3, 3] = [-108.0, -120.0, -60.0]
    return array, affine


def run() -> dict[str, float]:
    from inference.pipelines.fmri.features import extract, mni_to_voxel
    from inference.pipelines.fmri.motion import correct_motion
    from inference.pipelines.fmri.normalize import register_to_mni
    from inference.pipelines.fmri.pipeline import FmriPipeline
    from inference.pipelines.fmri.temporal import resample

    settings = {"bundle": os.environ.get("FMRI_BUNDLE"), "device": "cpu"}
    pipeline = FmriPipeline(settings)
    array, affine = _run()
    times: dict[str, float] = {}
    start = time.perf_counter()
    motion = correct_motion(array, affine)
    times["motion_correction_s"] = time.perf_counter() - start
    t = time.perf_counter()
    norm = register_to_mni(motion.corrected.mean(axis=3), affine)
    times["mni_registration_s"] = time.perf_counter() - t
    t = time.perf_counter()
    matrices = extract(motion.corrected, mni_to_voxel(norm.mni_to_subject, affine), pipeline.ensemble)
    resampled = resample(matrices.matrices, 3.0, pipeline.info.timing)
    pipeline._probabilities(resampled, pipeline.ensemble)
    times["rois_and_models_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - start
    for key, value in times.items():
        print(f"fmri {key}: {value:.2f}")
    return times


if __name__ == "__main__":
    run()
