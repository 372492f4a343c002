"""A 4D BOLD run as the fmri pipeline needs it, from a pipeline Series, a DICOM folder or a NIfTI file.

``Run4D.array`` is ``(column, row, slice, time)`` float32 with ``affine`` voxel -> LPS mm, the
conventions of :mod:`inference.volume`. A NIfTI whose sform (or qform) code is 4 (MNI152) is taken
as already normalised: the registration to the template is skipped for it.

:func:`labels_on_source` puts a label volume of the first time point back onto the frames of the
source :class:`~inference.pipeline.Series` (classic slices, multi-frame, or Siemens mosaic tiles), so
the SEG lies on the images the scanner sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from dicom_node.errors import InputError
from inference.pipeline import Series
from inference.volume import Volume, load_series
from inference.volume.nifti import repetition_time_s

MNI_XFORM_CODE = 4
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class Run4D:
    array: np.ndarray  # (x, y, z, t) float32
    affine: np.ndarray  # voxel -> LPS mm
    tr_s: float | None
    in_mni: bool = False
    volume: Volume | None = None  # the DICOM volume it came from, if any

    @property
    def n_volumes(self) -> int:
        return int(self.array.shape[3])

    @property
    def spacing(self) -> tuple[float, float, float]:
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))


def from_volume(volume: Volume) -> Run4D:
    array = np.asarray(volume.array, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or volume.is_projection:
        raise InputError(f"series {volume.series_instance_uid}: not a 3D/4D volume")
    return Run4D(
        array=array, affine=np.asarray(volume.affine, float), tr_s=repetition_time_s(volume), volume=volume
    )


def _volume_from_datasets(series: Series) -> Volume:
    """Assemble the volume from the series' own datasets (used for mosaics, read as plain images)."""
    from inference.volume.geometry import arrange
    from inference.volume.loader import header_only, patient_orientation, planes_of, series_label
    from inference.volume.pixels import fill

    datasets = series.datasets
    uid = str(datasets[0].get("SeriesInstanceUID", ""))
    label = series_label(datasets[0], uid)
    planes = [p for i, ds in enumerate(datasets) for p in planes_of(Path(f"image-{i}"), cast(Any, ds), label)]
    layout = arrange(planes, label, patient_orientation(datasets[0]))
    return Volume(
        array=fill(layout.grid, label),
        affine=layout.affine,
        frames=[[plane.ref for plane in group] for group in layout.grid],
        series_instance_uid=uid,
        modality=str(datasets[0].get("Modality", "")),
        datasets=[header_only(cast(Any, ds)) for ds in datasets],
        is_projection=layout.is_projection,
    )


def from_series(series: Series) -> Run4D:
    """The run behind a pipeline Series (its loaded volume, else assembled from its datasets)."""
    volume = series.volume if isinstance(series.volume, Volume) else None
    if volume is None:
        volume = _volume_from_datasets(series)
    return from_volume(volume)


def read_nifti(path: Path) -> Run4D:
    import nibabel as nib

    image: Any = nib.load(str(path))
    array = np.asarray(image.dataobj, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise InputError(f"{path}: expected a 3D or 4D NIfTI, got {array.ndim}D")
    header = image.header
    affine_ras = image.affine
    codes = (int(header["sform_code"]), int(header["qform_code"]))
    tr = float(header.get_zooms()[3]) if len(header.get_zooms()) > 3 else 0.0
    if header.get_xyzt_units()[1] == "msec":
        tr /= 1000.0
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_ras
    return Run4D(array=array, affine=lps, tr_s=tr if tr > 0 else None, in_mni=MNI_XFORM_CODE in codes)


def read_run(path: Path) -> Run4D:
    """A 4D NIfTI file or a folder holding one DICOM series."""
    if path.is_file() and path.name.endswith(NIFTI_SUFFIXES):
        return read_nifti(path)
    if path.is_dir():
        return from_volume(load_series(path))
    raise InputError(f"{path}: expected a NIfTI file (.nii/.nii.gz) or a DICOM series folder")


def labels_on_source(series: Series, volume: Volume, labels_xyz: np.ndarray) -> np.ndarray:
    """Labels [frame, row, col] on ``series.frames`` from a label volume (x, y, z) of ``volume``."""
    out = np.zeros((len(series.frames), *series.pixels.shape[1:3]), dtype=labels_xyz.dtype)
    where: dict[tuple[str, int], int] = {}
    for index, frame in enumerate(series.frames):
        uid = str(series.datasets[frame.dataset_index].SOPInstanceUID)
        where[(uid, frame.frame_number)] = index
    for k, refs in enumerate(volume.frames):
        ref = refs[0]
        found = where.get((ref.sop_instance_uid, ref.frame_number or 1))
        if found is None:
            continue
        index = found
        plane = labels_xyz[:, :, k].T  # (row, col)
        if ref.mosaic_tile is None:
            out[index] = plane
            continue
        tr, tc = plane.shape
        r, c = divmod(ref.mosaic_tile, out.shape[2] // tc)
        out[index, r * tr : (r + 1) * tr, c * tc : (c + 1) * tc] = plane
    return out
