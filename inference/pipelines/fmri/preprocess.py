"""Preprocessing of one run: motion correction, normalisation to MNI, ROI matrices (in that order)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.pipelines.fmri import atlas
from inference.pipelines.fmri.features import RoiMatrices, extract, mni_to_voxel
from inference.pipelines.fmri.motion import MotionResult, correct_motion, framewise_displacement
from inference.pipelines.fmri.normalize import Normalisation, identity, register_to_mni
from inference.pipelines.fmri.series4d import Run4D


@dataclass(frozen=True)
class Preprocessed:
    run: Run4D
    motion: MotionResult
    normalisation: Normalisation
    matrices: RoiMatrices


def preprocess(run: Run4D, rois: list[int] | None = None, motion_correction: bool = True) -> Preprocessed:
    """Realign (unless disabled or a single volume), normalise (unless in MNI) and extract ROI matrices."""
    rois = list(rois or range(1, atlas.N_ROIS + 1))
    if motion_correction and run.n_volumes > 1:
        motion = correct_motion(run.array, run.affine)
    else:
        zeros = np.zeros((run.n_volumes, 6))
        motion = MotionResult(run.array, zeros, framewise_displacement(zeros))
    mean = motion.corrected.mean(axis=3)
    normalisation = identity() if run.in_mni else register_to_mni(mean, run.affine)
    to_voxel = mni_to_voxel(normalisation.mni_to_subject, run.affine)
    return Preprocessed(run, motion, normalisation, extract(motion.corrected, to_voxel, rois))
