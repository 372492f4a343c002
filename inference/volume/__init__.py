"""Series → volume: one DICOM series as a numpy array, an LPS affine and a map back to its frames.

    volume = load_series("series_folder")      # Volume(array, affine (LPS), frames, ...)
    to_nifti(volume, "out.nii.gz")              # RAS affine, comparable with dcm2niix

Handles single-frame slices (sorted along the normal), enhanced multi-frame, Siemens mosaic,
4D time series, 2D projection radiographs and compressed transfer syntaxes (pydicom's decoders).
Conventions are documented in :mod:`inference.volume.model`.
"""

from inference.volume.errors import VolumeError
from inference.volume.loader import load_series
from inference.volume.model import FrameRef, Volume
from inference.volume.nifti import to_nifti

__all__ = ["FrameRef", "Volume", "VolumeError", "load_series", "to_nifti"]
