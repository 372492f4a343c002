"""The MONAI view of a volume: channel-first, affine and space labelled consistently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from monai.transforms import Orientation
from monai.utils import MetaKeys, SpaceKeys

from inference.volume import load_series
from inference.volume.monai_tensor import to_metatensor

DATA = Path(__file__).resolve().parents[1] / "data"


def test_metatensor_is_ras_labelled_and_reorients_correctly() -> None:
    volume = load_series(DATA / "dcm_qa_nih/In/20180918Si/mr_0003")
    tensor = to_metatensor(volume)
    assert tuple(tensor.shape) == (2, 72, 72, 5)  # time points as channels
    assert tensor.meta[MetaKeys.SPACE] == SpaceKeys.RAS
    np.testing.assert_allclose(tensor.affine.numpy(), volume.affine_ras())
    np.testing.assert_array_equal(tensor[1].numpy(), volume.array[..., 1])
    ras = Orientation(axcodes="RAS", labels=None)(tensor)  # flips what the affine + space say is reversed
    np.testing.assert_array_equal(ras[0].numpy(), volume.array[::-1, ::-1, :, 0])


def test_metatensor_in_lps_keeps_the_dicom_affine() -> None:
    volume = load_series(DATA / "dcm_qa_xa30/In/5_anat-T1w_acq-tfl")
    tensor = to_metatensor(volume, space="LPS")
    assert tuple(tensor.shape) == (1, 128, 128, 96)
    assert tensor.meta[MetaKeys.SPACE] == SpaceKeys.LPS
    np.testing.assert_allclose(tensor.affine.numpy(), volume.affine)
