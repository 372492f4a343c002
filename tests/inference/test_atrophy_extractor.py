"""atrophy pipeline, brain extractor choice and deepbet's reimplemented pre/post-processing (fast)."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import segment
from inference.pipelines.atrophy.brain_extraction import (
    CONFORMED_TO_RAS,
    INSTALL_HINT,
    DeepbetExtractor,
    box_with_margin,
    installed_weights,
    largest_component_26,
    normalize,
)
from inference.pipelines.atrophy.conform import LIA_DIRECTION
from inference.pipelines.atrophy.pipeline import AtrophyPipeline
from inference.pipelines.atrophy.segment import choose_extractor

T1 = Path(__file__).resolve().parents[1] / "data" / "brainchop" / "t1_crop.nii.gz"
needs_deepbet = pytest.mark.skipif(
    installed_weights() is None, reason=f"deepbet not installed: {INSTALL_HINT}"
)


def _lia_affine_ras() -> np.ndarray:
    """nibabel (RAS) affine of the conformed LIA grid (1 mm)."""
    affine = np.eye(4)
    affine[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ LIA_DIRECTION
    return affine


def test_conformed_grid_goes_to_the_same_ras_array_as_nibabels_closest_canonical() -> None:
    rng = np.random.default_rng(4)
    volume = rng.random((6, 7, 8)).astype(np.float32)
    image = nib.Nifti1Image(volume, _lia_affine_ras())
    assert nib.aff2axcodes(image.affine) == ("L", "I", "A")
    canonical = np.asarray(nib.as_closest_canonical(image).dataobj)
    ras = CONFORMED_TO_RAS.forward(volume)
    assert ras.shape == (6, 8, 7)
    assert np.array_equal(ras, canonical)  # what deepbet's own code feeds its networks
    assert np.array_equal(CONFORMED_TO_RAS.backward(ras), volume)


def test_choice_of_extractor_is_validated_and_explicit_deepbet_needs_its_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert choose_extractor("MindGrab") == "mindgrab"
    with pytest.raises(ConfigError, match="expected one of auto, deepbet, mindgrab"):
        choose_extractor("bet2")
    monkeypatch.setattr(segment, "installed_weights", lambda: None)  # as on a host without deepbet
    assert choose_extractor("auto") == "mindgrab"
    with pytest.raises(ConfigError, match=re.escape("pip install --no-deps deepbet==1.0.2")):
        choose_extractor("deepbet")


@needs_deepbet
def test_auto_picks_deepbet_when_its_weights_are_installed() -> None:
    weights = installed_weights()
    assert weights is not None and weights.version == "1.0.2"
    assert weights.mask_model.name == "model.pt" and weights.bbox_model.name == "bbox_model.pt"
    assert choose_extractor("auto") == "deepbet"


def test_box_with_margin_scales_and_grows_the_small_box_as_deepbet_does() -> None:
    small = np.zeros((128, 128, 128), dtype=np.float32)
    small[30:90, 40:100, 0:50] = 1.0  # rows 30..89: centre 60, size 60
    box = box_with_margin(small, (256, 256, 256))
    # x2 scale: centre 120, size 120 * 1.2 = 144 -> 48..192; the third axis is clipped at 0
    assert box[0] == slice(48, 192) and box[1] == slice(68, 212) and box[2] == slice(0, 110)


def test_normalize_and_largest_component_follow_deepbet() -> None:
    x = torch.linspace(-10.0, 300.0, 1000)
    out = normalize(x, torch.tensor(0.0), torch.tensor(255.0))
    assert float(out.mean()) == pytest.approx(0.449, abs=1e-5)
    assert float(out.std()) == pytest.approx(0.226, abs=1e-5)
    mask = np.zeros((9, 9, 9), dtype=bool)
    mask[1:4, 1:4, 1:4] = True  # 27 voxels
    mask[4, 4, 4] = True  # touches the cube only at a corner: part of it under 26-connectivity
    mask[7:9, 7:9, 7:9] = True  # 8 voxels, separate
    kept = largest_component_26(mask)
    assert kept.sum() == 28 and not kept[8, 8, 8]


@needs_deepbet
def test_deepbet_mask_of_the_conformed_t1_is_a_plausible_symmetric_brain() -> None:
    weights = installed_weights()
    assert weights is not None
    image = nib.load(T1)
    assert isinstance(image, nib.Nifti1Image)
    volume = np.asarray(image.dataobj, dtype=np.float32)  # conformed LIA
    mask = DeepbetExtractor(weights, "cpu")(volume)
    assert mask.shape == volume.shape and mask.dtype == bool
    assert 1000.0 < mask.sum() / 1000.0 < 1800.0
    left, right = mask[128:].sum(), mask[:128].sum()  # LIA: i grows towards the patient's left
    assert abs(left - right) / (left + right) < 0.05
    centre = np.argwhere(mask).mean(axis=0)
    # the conformed grid is centred on the head: brain above the grid's centre (j: inferior) and the
    # volume's bright voxels inside the mask (brain), not outside (scalp fat, neck)
    assert centre[1] < 128
    inside, outside = volume[mask].mean(), volume[~mask & (volume > 10)].mean()
    assert inside > outside
    flipped = np.ascontiguousarray(volume[:, ::-1])  # upside down: what a wrong orientation would give
    wrong = DeepbetExtractor(weights, "cpu")(flipped)[:, ::-1]
    dice = 2.0 * (wrong & mask).sum() / (wrong.sum() + mask.sum())
    assert dice < 0.95  # the orientation matters to the network, so the test above can fail


def test_pipeline_option_selects_the_extractor_and_the_outputs_name_it() -> None:
    mindgrab = AtrophyPipeline({"params": {"brain_extractor": "mindgrab"}})
    assert mindgrab.segmenter.deepbet is None and mindgrab.segmenter.extraction is not None
    algorithm = mindgrab.algorithm
    assert algorithm.name == "dicom-node atrophy (MindGrab+MeshNet, demonstration weights)"
    assert algorithm.parameters["brain extraction"] == "brainchop MindGrab (MeshNet, MIT)"
    assert "CentileBrain" in algorithm.parameters["norms"]
    with pytest.raises(ConfigError, match="brain_extractor"):
        AtrophyPipeline({"params": {"brain_extractor": "fsl"}})


@needs_deepbet
def test_default_pipeline_uses_deepbet_and_says_so() -> None:
    algorithm = AtrophyPipeline({}).algorithm
    assert algorithm.name == "dicom-node atrophy (deepbet+MeshNet, demonstration weights)"
    assert len(algorithm.name) <= 64  # DICOM LO
    assert algorithm.version.startswith("1.1 (weights: deepbet 1.0.2, brainchop 4c87885")
    assert "Fisch et al." in algorithm.parameters["brain extraction"]
