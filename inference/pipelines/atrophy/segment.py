"""Skull stripping (deepbet or MindGrab) and brainchop's 104-label parcellation of a conformed T1.

Brain extractor (pipeline option ``brain_extractor``, :data:`EXTRACTORS`): ``deepbet``, ``mindgrab`` or
``auto``. The steps (crops, two-pass MindGrab, intensity standardisation) and their measurements:
docs/atrophy-segmentation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from dicom_node.errors import ConfigError, PipelineError
from dicom_node.logsetup import get_logger
from inference.bundle import Bundle, Expectation, load_bundle
from inference.pipelines.atrophy.boxes import Box, bounding_box
from inference.pipelines.atrophy.brain_extraction import INSTALL_HINT, DeepbetExtractor, installed_weights
from inference.pipelines.atrophy.intensity import correct_bias, sharpen

log = get_logger(__name__)

BUNDLE_ROOT = Path(__file__).resolve().parent / "bundle"
EXTRACTION, PARCELLATION = "brain_extraction", "parcellation"
HEAD_THRESHOLD = 0.5
HEAD_PADDING = 20
COARSE_FACTOR = 2
BRAIN_PADDING = 4
WM_PERCENTILE = 95.0
WM_REFERENCE = 131.0  # 95th percentile inside MindGrab's mask on brainchop's t1_crop.nii.gz
MASK_MARGIN = 2
DEEPBET, MINDGRAB = "deepbet", "mindgrab"
EXTRACTORS = ("auto", DEEPBET, MINDGRAB)
MINDGRAB_DESCRIPTION = "brainchop MindGrab (MeshNet, MIT)"


@dataclass(frozen=True)
class BrainSegmentation:
    """Results on the conformed grid: brain mask (bool) and the 104-label parcellation (uint8)."""

    brain: np.ndarray
    parcellation: np.ndarray


def minmax(volume: np.ndarray) -> np.ndarray:
    low, high = float(volume.min()), float(volume.max())
    if high <= low:
        raise PipelineError("the image is uniform: nothing to segment")
    return ((volume - low) / (high - low)).astype(np.float32)


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(labels == int(np.argmax(sizes)))


def choose_extractor(choice: str) -> str:
    """``deepbet`` or ``mindgrab`` for the option value ``choice`` (``auto``: deepbet when installed)."""
    choice = str(choice).strip().lower()
    if choice not in EXTRACTORS:
        raise ConfigError(f"atrophy: brain_extractor {choice!r}: expected one of {', '.join(EXTRACTORS)}")
    installed = installed_weights() is not None
    if choice == DEEPBET and not installed:
        raise ConfigError(
            f"atrophy: brain_extractor deepbet: deepbet's weights are not installed ({INSTALL_HINT})"
        )
    if choice == "auto" and not installed:
        log.warning("atrophy_deepbet_missing", fallback=MINDGRAB, fix=INSTALL_HINT)
        return MINDGRAB
    return DEEPBET if choice == "auto" else choice


class BrainSegmenter:
    """Loads the extractor and the parcellation bundle once (per process) and runs them.

    ``extractor``: ``auto`` | ``deepbet`` | ``mindgrab`` (:func:`choose_extractor`); the one used is
    :attr:`extractor`, described by :attr:`extractor_description`.
    """

    def __init__(
        self, bundle_root: Path = BUNDLE_ROOT, device: str = "auto", extractor: str = "auto"
    ) -> None:
        root = Path(bundle_root)
        self.extractor = choose_extractor(extractor)
        self.deepbet: DeepbetExtractor | None = None
        self.extraction: Bundle | None = None
        if self.extractor == DEEPBET:
            weights = installed_weights()
            assert weights is not None  # checked by choose_extractor
            self.deepbet = DeepbetExtractor(weights, device)
        else:
            self.extraction = load_bundle(root / EXTRACTION, device, Expectation(1, 2, 3))
        self.parcellation = load_bundle(root / PARCELLATION, device, Expectation(1, 104, 3))

    @property
    def extractor_description(self) -> str:
        """Which brain extractor runs, with its version and licence (for the outputs)."""
        return self.deepbet.description if self.deepbet is not None else MINDGRAB_DESCRIPTION

    @staticmethod
    def _labels(bundle: Bundle, volume: np.ndarray, box: Box) -> np.ndarray:
        crop = torch.from_numpy(np.ascontiguousarray(volume[box]))[None, None].to(bundle.device)
        network = bundle.network.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        labels = network.predict_labels(crop)[0].numpy()
        out = np.zeros(volume.shape, dtype=np.uint8)
        out[box] = labels
        return out

    def _brain_box(self, extraction: Bundle, normalised: np.ndarray) -> Box:
        """The box for the 1 mm MindGrab pass: a 2 mm MindGrab pass's brain, grown by ``HEAD_PADDING``."""
        volume = torch.from_numpy(np.ascontiguousarray(normalised, dtype=np.float32))[None, None]
        half = F.avg_pool3d(volume, COARSE_FACTOR, ceil_mode=True)[0, 0].numpy()
        head = bounding_box(half > HEAD_THRESHOLD, HEAD_PADDING // COARSE_FACTOR)
        rough = largest_component(self._labels(extraction, half, head) > 0)
        found = np.argwhere(rough)
        if found.size == 0:
            return bounding_box(normalised > HEAD_THRESHOLD, HEAD_PADDING)
        low = np.maximum(found.min(axis=0) * COARSE_FACTOR - HEAD_PADDING, 0)
        high = np.minimum((found.max(axis=0) + 1) * COARSE_FACTOR + HEAD_PADDING, normalised.shape)
        return (slice(low[0], high[0]), slice(low[1], high[1]), slice(low[2], high[2]))

    def extract_brain(self, normalised: np.ndarray) -> np.ndarray:
        """Brain mask (largest component, holes filled) of a min-max normalised conformed volume."""
        if self.deepbet is not None:
            return self.deepbet(normalised)
        assert self.extraction is not None
        box = self._brain_box(self.extraction, normalised)
        mask = self._labels(self.extraction, normalised, box) > 0
        return np.asarray(ndimage.binary_fill_holes(largest_component(mask)))

    def parcellate(self, volume: np.ndarray, brain: np.ndarray, coarse: bool = False) -> np.ndarray:
        """104-label parcellation of a conformed 0-255 volume, restricted to the (grown) brain mask.

        ``coarse``: the source was coarser than 1.5 mm (upsampled), so the input is sharpened first.
        """
        if not brain.any():
            raise PipelineError("brain extraction found no brain")
        grown = ndimage.binary_dilation(brain, iterations=MASK_MARGIN)
        volume = correct_bias(volume, brain)
        if coarse:
            volume = sharpen(volume, brain)
        level = float(np.percentile(volume[brain], WM_PERCENTILE))
        if level <= 0:
            raise PipelineError("the brain has no signal")
        standard = np.clip(volume * (WM_REFERENCE / level), 0.0, 255.0) * grown
        labels = self._labels(self.parcellation, minmax(standard), bounding_box(grown, BRAIN_PADDING))
        labels[~grown] = 0
        return labels

    def run(self, conformed: np.ndarray, coarse: bool = False) -> BrainSegmentation:
        """Brain mask and parcellation of a conformed volume (``coarse``: see :meth:`parcellate`)."""
        brain = self.extract_brain(minmax(conformed))
        return BrainSegmentation(brain=brain, parcellation=self.parcellate(conformed, brain, coarse))
