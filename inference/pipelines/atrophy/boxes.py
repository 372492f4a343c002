"""Bounding boxes of 3D masks: the crops the atrophy pipeline's networks and filters run on."""

from __future__ import annotations

import numpy as np

from dicom_node.errors import PipelineError

Box = tuple[slice, slice, slice]


def bounding_box(mask: np.ndarray, padding: int) -> Box:
    """Bounding box of ``mask`` grown by ``padding`` voxels, clipped to the array."""
    found = np.argwhere(mask)
    if found.size == 0:
        raise PipelineError("no head/brain found in the image")
    low = np.maximum(found.min(axis=0) - padding, 0)
    high = np.minimum(found.max(axis=0) + padding + 1, mask.shape)
    return (slice(low[0], high[0]), slice(low[1], high[1]), slice(low[2], high[2]))
