"""Export a :class:`Volume` as NIfTI-1 (RAS affine as both qform and sform, scanner space)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.volume.model import Volume


def repetition_time_s(volume: Volume) -> float | None:
    """The Repetition Time in seconds, from the first header that has one (classic or enhanced)."""
    for ds in volume.datasets:
        value = ds.get("RepetitionTime")
        if value is None and "SharedFunctionalGroupsSequence" in ds:
            timing = ds.SharedFunctionalGroupsSequence[0].get("MRTimingAndRelatedParametersSequence")
            value = timing[0].get("RepetitionTime") if timing else None
        if value not in (None, ""):
            return float(value) / 1000.0
    return None


def to_nifti(volume: Volume, path: str | Path) -> None:
    """Write the volume to ``path`` (``.nii`` or ``.nii.gz``); a 4D volume gets TR as its time step."""
    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(volume.array), volume.affine_ras())
    image.set_qform(volume.affine_ras(), code=1)
    image.set_sform(volume.affine_ras(), code=1)
    image.header.set_xyzt_units(xyz="mm", t="sec")
    if volume.array.ndim == 4:
        tr = repetition_time_s(volume)
        if tr:
            image.header.set_zooms((*image.header.get_zooms()[:3], tr))
    nib.save(image, str(path))
