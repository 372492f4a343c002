"""Synthetic resting-state runs with a planted group difference, for demonstration weights and tests.

Each subject is a 4D NIfTI already in MNI space (sform/qform code 4, so training skips the template
registration), voxels of ``voxel_mm`` over the brain's bounding box, ``length`` volumes every ``tr_s``.
Every voxel carries independent AR(1) noise. In subjects of class 1, the voxels within 7 mm of each
*planted* ROI centre also share a slow oscillation (0.03-0.07 Hz, random phase and frequency per
subject and ROI), so only the planted ROIs separate the groups. ``write_dataset`` writes the files and
``labels.csv`` in the layout ``dicom-node train fmri`` reads.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from inference.pipelines.fmri import atlas

BOX_MM = ((-72.0, 72.0), (-108.0, 76.0), (-48.0, 80.0))  # MNI RAS bounding box of the ROI centres
PLANT_RADIUS_MM = 7.0


def mni_affine_ras(voxel_mm: float) -> np.ndarray:
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [low for low, _ in BOX_MM]
    return affine


def grid_shape(voxel_mm: float) -> tuple[int, int, int]:
    sizes = [int(np.floor((high - low) / voxel_mm)) + 1 for low, high in BOX_MM]
    return (sizes[0], sizes[1], sizes[2])


def subject_run(
    label: int,
    planted: list[int],
    rng: np.random.Generator,
    length: int = 115,
    tr_s: float = 3.0,
    voxel_mm: float = 4.0,
    amplitude: float = 1.0,
) -> np.ndarray:
    """One run (x, y, z, t) float32 in MNI space."""
    shape = grid_shape(voxel_mm)
    noise = rng.standard_normal((*shape, length)).astype(np.float32)
    for t in range(1, length):  # AR(1), rho 0.3
        noise[..., t] = 0.3 * noise[..., t - 1] + noise[..., t]
    run = 1000.0 + 20.0 * noise
    if label == 1 and planted:
        affine = mni_affine_ras(voxel_mm)
        centres = np.array([atlas.roi(n).mni_ras for n in planted])
        index = np.indices(shape).reshape(3, -1).T
        world = index * voxel_mm + affine[:3, 3]
        times = np.arange(length) * tr_s
        for centre in centres:
            near = np.linalg.norm(world - centre, axis=1) <= PLANT_RADIUS_MM
            freq, phase = rng.uniform(0.03, 0.07), rng.uniform(0, 2 * np.pi)
            signal = 20.0 * amplitude * np.sin(2 * np.pi * freq * times + phase)
            ii, jj, kk = index[near].T
            run[ii, jj, kk, :] += signal.astype(np.float32)
    return run.astype(np.float32)


def write_run(path: Path, run: np.ndarray, tr_s: float, voxel_mm: float) -> None:
    import nibabel as nib

    affine = mni_affine_ras(voxel_mm)
    image = nib.Nifti1Image(np.round(run).astype(np.int16), affine)
    image.set_sform(affine, code=4)
    image.set_qform(affine, code=4)
    image.header.set_xyzt_units(xyz="mm", t="sec")
    image.header.set_zooms((voxel_mm, voxel_mm, voxel_mm, tr_s))
    nib.save(image, str(path))


def write_dataset(
    out: Path,
    per_class: int,
    planted: list[int],
    seed: int = 0,
    length: int = 115,
    tr_s: float = 3.0,
    voxel_mm: float = 4.0,
    amplitude: float = 1.0,
) -> Path:
    """Write ``2 * per_class`` runs and ``labels.csv`` under ``out``; return the CSV path."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(2 * per_class):
        label = i % 2
        name = f"sub-{i:03d}.nii"
        write_run(
            out / name, subject_run(label, planted, rng, length, tr_s, voxel_mm, amplitude), tr_s, voxel_mm
        )
        rows.append({"series": name, "label": label})
    labels = out / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["series", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return labels


def main() -> None:
    """``python -m inference.pipelines.fmri.synthetic OUT [--per-class N] [--planted 12,86]``."""
    import argparse

    from inference.pipelines.fmri.atlas import PAPER_ROIS

    parser = argparse.ArgumentParser(description="write a synthetic fmri training set (demonstration)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--planted", default=",".join(map(str, PAPER_ROIS)))
    parser.add_argument("--length", type=int, default=115)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    planted = [int(p) for p in args.planted.split(",") if p]
    write_dataset(args.out, args.per_class, planted, args.seed, args.length)


if __name__ == "__main__":
    main()
