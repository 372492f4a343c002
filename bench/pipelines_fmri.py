"""Benchmark of the fmri pipeline: seconds per series on a generated 64x64x37x115 EPI run (2 CPU cores).

``run()`` builds a synthetic 4D run in memory (TR 3 s), times the pipeline's stages (motion
correction, MNI registration, ROI matrices, LSTMs) and prints the wall-clock and CPU seconds per
stage, the goal (< 30 s) and the 1-minute load average: on a shared machine the wall time grows with
the other processes' load, while the CPU seconds of this process do not (the two cores' CPU time is
summed, so CPU seconds / 2 is the wall time the run needs on two idle cores when both are busy).
Uses the packaged bundle (demonstration weights) unless ``FMRI_BUNDLE`` is set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

T = TypeVar("T")
GOAL_S = 30.0


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


def _timed(times: dict[str, float], name: str, step: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    value = step()
    times[f"{name}_s"] = time.perf_counter() - wall
    times[f"{name}_cpu_s"] = time.process_time() - cpu
    return value


def run() -> dict[str, float]:
    import torch

    from inference.pipelines.fmri.features import extract, mni_to_voxel
    from inference.pipelines.fmri.motion import correct_motion
    from inference.pipelines.fmri.normalize import register_to_mni
    from inference.pipelines.fmri.pipeline import FmriPipeline
    from inference.pipelines.fmri.temporal import crop

    torch.set_num_threads(2)
    settings = {"bundle": os.environ.get("FMRI_BUNDLE"), "device": "cpu"}
    pipeline = FmriPipeline(settings)
    array, affine = _run()
    times: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    motion = _timed(times, "motion_correction", lambda: correct_motion(array, affine))
    norm = _timed(times, "mni_registration", lambda: register_to_mni(motion.corrected.mean(axis=3), affine))

    def rois_and_models() -> None:
        matrices = extract(motion.corrected, mni_to_voxel(norm.mni_to_subject, affine), pipeline.ensemble)
        cropped = crop(matrices.matrices, pipeline.info.timing)  # 115 volumes at TR 3 s: all used
        pipeline._probabilities(cropped, pipeline.ensemble)

    _timed(times, "rois_and_models", rois_and_models)
    times["total_s"] = time.perf_counter() - wall
    times["total_cpu_s"] = time.process_time() - cpu
    load = os.getloadavg()[0]
    for key, value in times.items():
        print(f"fmri {key}: {value:.2f}")
    verdict = "met" if times["total_s"] < GOAL_S else "NOT met"
    print(f"goal < {GOAL_S:.0f} s wall: {verdict} (ratio {GOAL_S / times['total_s']:.2f}x)")
    contended = " (CPU-contended: other processes share the cores)" if load > (os.cpu_count() or 1) else ""
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} cores{contended}")
    times["load_average_1min"] = load
    return times


if __name__ == "__main__":
    run()
