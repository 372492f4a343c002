"""The expected size of a series, from the headers we trust. ``None`` = unknown: the quiet period decides.

Trusted, in order:

1. ``InConcatenationTotalNumber`` (0020,0162): a concatenation says how many instances make it up;
   expected frames = that count × the frames of each part.
2. ``ImagesInAcquisition`` (0020,1002) on a series with no temporal dimension
   (``NumberOfTemporalPositions`` absent or 1), not a Siemens mosaic: the number of images (frames, for
   multi-frame objects) in the acquisition.

Deliberately not trusted: ``ImagesInAcquisition`` together with ``NumberOfTemporalPositions`` > 1 —
vendors disagree whether it counts one time point or all of them, and a wrong early completion would
hand a partial fMRI run to a pipeline; mosaics (one image holds many slices); ``NumberOfFrames`` alone
(an enhanced series may be one file or one file per volume). These wait for the quiet period.
A series completed early by a wrong count is still safe: later instances open a new revision.
"""

from __future__ import annotations

from pydicom.dataset import Dataset


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def frames_in(ds: Dataset) -> int:
    frames = _int(ds, "NumberOfFrames")
    return frames if frames and frames > 0 else 1


def expected_frames(ds: Dataset) -> int | None:
    concatenation = _int(ds, "InConcatenationTotalNumber")
    if concatenation and concatenation > 0:
        return concatenation * frames_in(ds)
    temporal = _int(ds, "NumberOfTemporalPositions")
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if "MOSAIC" in image_type or (temporal is not None and temporal > 1):
        return None
    images = _int(ds, "ImagesInAcquisition")
    if images and images > 0:
        return images
    return None
