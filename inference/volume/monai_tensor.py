"""A :class:`Volume` as a MONAI ``MetaTensor`` whose affine and ``space`` metadata agree.

Imports torch / MONAI when called, so loading a volume never needs them. The tensor is channel-first
as MONAI transforms expect: ``(1, X, Y, Z)`` for a 3D volume, ``(T, X, Y, Z)`` with time points as
channels for a 4D one. ``space="RAS"`` (MONAI's default, as its ITK/NiBabel readers produce) or ``"LPS"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from inference.volume.model import Volume

if TYPE_CHECKING:
    from monai.data import MetaTensor


def to_metatensor(volume: Volume, space: Literal["RAS", "LPS"] = "RAS") -> MetaTensor:
    """The volume's voxels (channel-first) with ``affine``, ``original_affine`` and ``space`` set."""
    import torch
    from monai.data import MetaTensor
    from monai.utils import MetaKeys, SpaceKeys

    affine = volume.affine_ras() if space == "RAS" else volume.affine
    data = volume.array[np.newaxis] if volume.array.ndim == 3 else np.moveaxis(volume.array, 3, 0)
    meta = {
        MetaKeys.SPACE: SpaceKeys.RAS if space == "RAS" else SpaceKeys.LPS,
        MetaKeys.ORIGINAL_AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: np.asarray(volume.array.shape[:3]),
        "filename_or_obj": volume.series_instance_uid,
        "modality": volume.modality,
    }
    tensor = torch.from_numpy(np.ascontiguousarray(data))
    return MetaTensor(tensor, affine=torch.as_tensor(affine, dtype=torch.float64), meta=meta)
