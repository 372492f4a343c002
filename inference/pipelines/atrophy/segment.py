"""Skull stripping and parcellation of a conformed T1 with the two shipped MeshNet bundles.

Steps (both networks are fully convolutional, so they run on crops, which is what makes CPU use bearable):

1. MindGrab (brain extraction) on the head: min-max normalised volume, box of the voxels above 50 % of
   the range plus 20 voxels (brainchop's own MindGrab settings: ``autoThreshold`` 0.5, ``cropPadding`` 20).
   The brain mask is its largest connected component, holes filled. Its volume is our estimate of the
   intracranial volume (ICV): brain plus ventricles, without most of the outer CSF, so it is lower than
   a true ICV; every region's fraction is taken of this same quantity.
2. Intensity standardisation: scanners differ (bright scalp fat on the XA30 MPRAGE, intensity-normalised
   white matter on brainchop's conformed sample), and the parcellation model expects the latter. The
   volume is scaled so that the 95th percentile inside the brain mask (white matter) lands at 131, its
   value in brainchop's sample ``t1_crop.nii.gz``, then skull-stripped (mask grown by 2 voxels).
3. The 104-label parcellation on the brain's box (+4 voxels), min-max normalised as in brainchop.

Each network's last (1x1x1) layer runs in slabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from dicom_node.errors import PipelineError
from inference.bundle import Bundle, Expectation, load_bundle

BUNDLE_ROOT = Path(__file__).resolve().parent / "bundle"
EXTRACTION, PARCELLATION = "brain_extraction", "parcellation"
HEAD_THRESHOLD = 0.5
HEAD_PADDING = 20
BRAIN_PADDING = 4
WM_PERCENTILE = 95.0
WM_REFERENCE = 131.0  # 95th percentile inside MindGrab's mask on brainchop's t1_crop.nii.gz
MASK_MARGIN = 2

Box = tuple[slice, slice, slice]


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


def bounding_box(mask: np.ndarray, padding: int) -> Box:
    """Bounding box of ``mask`` grown by ``padding`` voxels, clipped to the array."""
    found = np.argwhere(mask)
    if found.size == 0:
        raise PipelineError("no head/brain found in the image")
    low = np.maximum(found.min(axis=0) - padding, 0)
    high = np.minimum(found.max(axis=0) + padding + 1, mask.shape)
    return (slice(low[0], high[0]), slice(low[1], high[1]), slice(low[2], high[2]))


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(labels == int(np.argmax(sizes)))


class BrainSegmenter:
    """Loads both bundles once (per process, via :func:`inference.bundle.load_bundle`) and runs them."""

    def __init__(self, bundle_root: Path = BUNDLE_ROOT, device: str = "auto") -> None:
        root = Path(bundle_root)
        self.extraction = load_bundle(root / EXTRACTION, device, Expectation(1, 2, 3))
        self.parcellation = load_bundle(root / PARCELLATION, device, Expectation(1, 104, 3))

    @staticmethod
    def _labels(bundle: Bundle, volume: np.ndarray, box: Box) -> np.ndarray:
        crop = torch.from_numpy(np.ascontiguousarray(volume[box]))[None, None].to(bundle.device)
        network = bundle.network.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        labels = network.predict_labels(crop)[0].numpy()
        out = np.zeros(volume.shape, dtype=np.uint8)
        out[box] = labels
        return out

    def extract_brain(self, normalised: np.ndarray) -> np.ndarray:
        """MindGrab brain mask (largest component, holes filled) of a min-max normalised volume."""
        head = bounding_box(normalised > HEAD_THRESHOLD, HEAD_PADDING)
        mask = self._labels(self.extraction, normalised, head) > 0
        return np.asarray(ndimage.binary_fill_holes(largest_component(mask)))

    def parcellate(self, volume: np.ndarray, brain: np.ndarray) -> np.ndarray:
        """104-label parcellation of a conformed 0-255 volume, restricted to the (grown) brain mask."""
        if not brain.any():
            raise PipelineError("brain extraction found no brain")
        grown = ndimage.binary_dilation(brain, iterations=MASK_MARGIN)
        level = float(np.percentile(volume[brain], WM_PERCENTILE))
        if level <= 0:
            raise PipelineError("the brain has no signal")
        standard = np.clip(volume * (WM_REFERENCE / level), 0.0, 255.0) * grown
        labels = self._labels(self.parcellation, minmax(standard), bounding_box(grown, BRAIN_PADDING))
        labels[~grown] = 0
        return labels

    def run(self, conformed: np.ndarray) -> BrainSegmentation:
        brain = self.extract_brain(minmax(conformed))
        return BrainSegmentation(brain=brain, parcellation=self.parcellate(conformed, brain))
