"""How much the atrophy pipeline's regional volumes move when only the head's pose and the noise change.

No scan-rescan data is in tests/data, so this measures a lower bound of the pipeline's own repeatability:
the same T1 with the head re-positioned (a rigid rotation about the volume's centre, SD ``--degrees`` per
axis, and a shift, SD ``--mm`` per axis, applied to the source geometry, so the conformed grid sees a
turned head) and fresh Gaussian noise (``--noise``, a fraction of the 99.9th intensity percentile),
segmented as the pipeline does (conform, brain extraction, MeshNet parcellation, 10 regions). A real
rescan adds what this cannot: new noise from the scanner, motion, shimming, positioning in the coil.

    python bench/atrophy_repeatability.py [--series FOLDER] [--repeats 6] [--threads 2]

Prints per region, over the re-positioned runs, the mean volume, SD and coefficient of variation (%), and
the mean's difference from the untouched volume (%). Results: docs/atrophy-longitudinal.md.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from inference.pipelines.atrophy.conform import Grid, conform
from inference.pipelines.atrophy.pipeline import is_coarse, regional_volumes
from inference.pipelines.atrophy.regions import REGIONS, group_labels
from inference.pipelines.atrophy.segment import BrainSegmenter

T1 = Path(__file__).resolve().parents[1] / "tests" / "data" / "brainchop" / "t1_crop.nii.gz"


def _nifti(path: Path) -> tuple[np.ndarray, Grid]:
    image = nib.load(path)
    assert isinstance(image, nib.Nifti1Image)
    array = np.asarray(image.dataobj, dtype=np.float32)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(image.affine)
    return array, Grid((int(array.shape[0]), int(array.shape[1]), int(array.shape[2])), lps)


def _series(folder: Path) -> tuple[np.ndarray, Grid]:
    from inference.series_reader import read_series

    volume = read_series(folder).volume
    array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
    return np.asarray(array, dtype=np.float32), Grid(tuple(array.shape[:3]), np.asarray(volume.affine))


def moved(grid: Grid, rng: np.random.Generator, degrees: float, mm: float) -> Grid:
    """``grid`` turned about its centre and shifted: the same voxels seen as a re-positioned head."""
    turn = Rotation.from_euler("xyz", rng.normal(0.0, degrees, 3), degrees=True).as_matrix()
    centre = grid.centre()
    affine = np.eye(4)
    affine[:3, :3] = turn @ grid.affine[:3, :3]
    affine[:3, 3] = turn @ (grid.affine[:3, 3] - centre) + centre + rng.normal(0.0, mm, 3)
    return Grid(grid.shape, affine)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=Path, help="a DICOM series folder (default: brainchop's 1 mm T1)")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--degrees", type=float, default=3.0)
    parser.add_argument("--mm", type=float, default=2.0)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    array, grid = _series(args.series) if args.series else _nifti(T1)
    segmenter = BrainSegmenter()
    rng = np.random.default_rng(args.seed)
    upper = float(np.percentile(array[array > 0], 99.9))
    runs: list[dict[int, float]] = []
    for repeat in range(args.repeats + 1):
        started = time.monotonic()
        source, pixels = grid, array
        if repeat:
            source = moved(grid, rng, args.degrees, args.mm)
            noisy = array + rng.normal(0.0, args.noise * upper, array.shape).astype(np.float32)
            pixels = np.clip(noisy, 0.0, None)
        conformed, _ = conform(pixels, source)
        segmentation = segmenter.run(conformed, coarse=is_coarse(source))
        runs.append(regional_volumes(group_labels(segmentation.parcellation)))
        print(f"run {repeat}: {time.monotonic() - started:.0f} s", flush=True)
    # statistics over the re-positioned runs only: each went through one interpolation more than the
    # untouched volume (run 0), which shifts volumes systematically (its difference is shown apart)
    print(f"{'region':24} {'mean mL':>8} {'SD':>6} {'CV %':>6} {'vs run 0 %':>10}")
    cvs = []
    for region in REGIONS:
        values = np.array([run[region.label] for run in runs[1:]])
        cv = 100.0 * float(values.std(ddof=1)) / float(values.mean())
        shift = 100.0 * (float(values.mean()) - runs[0][region.label]) / runs[0][region.label]
        cvs.append(cv)
        print(f"{region.name:24} {values.mean():8.2f} {values.std(ddof=1):6.2f} {cv:6.2f} {shift:+10.2f}")
    print(f"root-mean-square CV over regions: {math.sqrt(float(np.mean(np.square(cvs)))):.2f} %")


if __name__ == "__main__":
    main()
