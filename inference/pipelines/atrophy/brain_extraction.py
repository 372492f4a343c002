"""Brain extraction with deepbet's TorchScript networks (the default extractor of the atrophy pipeline).

deepbet: Fisch L. et al., "deepbet: Fast brain extraction of T1-weighted MRI using Convolutional Neural
Networks", Comput. Biol. Med. 2024 (PyPI ``deepbet`` 1.0.2, MIT licence, (c) its authors; the licence
ships with the package as ``deepbet-1.0.2.dist-info/LICENSE``). Two 3D networks: a bounding-box model on
the head resized to 128^3, then the mask model on the brain's box resized to 256^3; ~1 s and ~3 s on
2 CPU cores, against ~100 s for brainchop's 25-layer MindGrab on the same head.

Only the two TorchScript files of the package are used (``data/models/bbox_model.pt``, ``model.pt``),
never its Python code (it imports a GUI toolkit and more). Install them without dependencies::

    pip install --no-deps deepbet==1.0.2

:func:`deepbet_mask` restates ``deepbet.bet.BrainExtraction.run_model`` / ``postprocess`` (threshold
0.5, no dilation) with numpy, scipy and torch: nearest-exact resize to 128^3, the 0.5 / 99.5 % quantiles
of that small volume as the intensity window, deepbet's ``normalize``, bbox model channel 1 > 0.5,
largest connected component (26-connected, as ``cc3d``), its box grown by 10 % per side, the crop resized
to 256^3, mask model channel 1 resized back to the crop, > 0.5, largest component, holes filled
(``fill_voids`` → :func:`scipy.ndimage.binary_fill_holes`). With ``cc3d`` and ``fill_voids`` replaced by
those scipy calls, deepbet 1.0.2's own ``run_model`` + ``postprocess`` give the same voxels as this module
on both test volumes (checked once, 0 voxels differ). deepbet works on nibabel's closest-canonical
(RAS+) array; the conformed volume (LIA, :mod:`.conform`) is reoriented to RAS+ and the mask back.

deepbet's mask covers brain and ventricles, not the outer CSF (its own code calls the mask volume "tiv"):
on our two test volumes it is about 7 % smaller than MindGrab's mask, which keeps a thin layer of outer
CSF (Dice 0.96; 99.7 % of deepbet's voxels lie inside MindGrab's; see docs/pipelines.md).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from dicom_node.errors import PipelineError
from inference.bundle import select_device
from inference.pipelines.atrophy.boxes import Box
from inference.pipelines.atrophy.conform import LIA_DIRECTION

DEEPBET_DISTRIBUTION = "deepbet"
DEEPBET_VERSION = "1.0.2"
INSTALL_HINT = f"pip install --no-deps {DEEPBET_DISTRIBUTION}=={DEEPBET_VERSION}"
BBOX_MODEL, MASK_MODEL = "data/models/bbox_model.pt", "data/models/model.pt"
SMALL_SHAPE = (128, 128, 128)
SHAPE = (256, 256, 256)
QUANTILES = (0.005, 0.995)
THRESHOLD = 0.5
BBOX_MARGIN = 0.1
BBOX_FOREGROUND = 0.02
# deepbet's normalize(): window to 0-1, standardise, then ImageNet-like mean/std.
NORMALIZE_STD, NORMALIZE_MEAN = 0.226, 0.449
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
CONNECTED_26 = ndimage.generate_binary_structure(3, 3)


@dataclass(frozen=True)
class DeepbetWeights:
    """Paths of the two TorchScript files of an installed deepbet distribution, and its version."""

    bbox_model: Path
    mask_model: Path
    version: str


def installed_weights() -> DeepbetWeights | None:
    """deepbet's TorchScript files as installed by pip (``site-packages/data/models/``), or None."""
    try:
        distribution = importlib.metadata.distribution(DEEPBET_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    found: dict[str, Path] = {}
    for entry in distribution.files or []:
        for wanted in (BBOX_MODEL, MASK_MODEL):
            if str(entry).replace("\\", "/").endswith(wanted):
                found[wanted] = Path(str(entry.locate()))
    if len(found) < 2 or not all(path.is_file() for path in found.values()):
        return None
    return DeepbetWeights(found[BBOX_MODEL], found[MASK_MODEL], distribution.version)


@dataclass(frozen=True)
class Reorientation:
    """Axis permutation and flips taking an array indexed along ``direction_lps``'s columns to RAS+."""

    axes: tuple[int, int, int]
    flips: tuple[int, ...]

    @classmethod
    def to_ras(cls, direction_lps: np.ndarray) -> Reorientation:
        ras = LPS_TO_RAS @ np.asarray(direction_lps, dtype=float)  # columns: RAS direction of axes i, j, k
        axes = tuple(int(np.argmax(np.abs(ras[world]))) for world in range(3))
        if sorted(axes) != [0, 1, 2]:
            raise PipelineError(f"oblique grid, no closest RAS orientation: {direction_lps.tolist()}")
        flips = tuple(world for world in range(3) if ras[world, axes[world]] < 0)
        return cls((axes[0], axes[1], axes[2]), flips)

    def forward(self, array: np.ndarray) -> np.ndarray:
        out = np.transpose(array, self.axes)
        return np.flip(out, self.flips) if self.flips else out

    def backward(self, array: np.ndarray) -> np.ndarray:
        out = np.flip(array, self.flips) if self.flips else array
        return np.transpose(out, tuple(int(a) for a in np.argsort(self.axes)))


CONFORMED_TO_RAS = Reorientation.to_ras(LIA_DIRECTION)


def normalize(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """deepbet.utils.normalize."""
    x = ((x - low) / (high - low)).clamp(min=0.0, max=1.0)
    return NORMALIZE_STD * (x - x.mean()) / x.std() + NORMALIZE_MEAN


def largest_component_26(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of ``mask`` (deepbet's ``cc3d`` default connectivity)."""
    labels, count = ndimage.label(mask, structure=CONNECTED_26)
    if count == 0:
        raise PipelineError("brain extraction (deepbet) found no brain")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(labels == int(np.argmax(sizes)))


def box_with_margin(small: np.ndarray, shape: tuple[int, ...], margin: float = BBOX_MARGIN) -> Box:
    """deepbet's ``get_bbox_with_margin``: the small mask's box, scaled to ``shape``, grown by ``margin``."""
    bounds = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        found = np.flatnonzero(small.mean(axis=others) > BBOX_FOREGROUND)
        if found.size == 0:
            raise PipelineError("brain extraction (deepbet): not enough brain for a bounding box")
        scale = shape[axis] / small.shape[axis]
        centre = float(np.round(scale * (found.max() + 1 + found.min()) / 2.0))
        size = float(np.round((1.0 + 2.0 * margin) * scale * ((found.max() + 1) - found.min())))
        low, high = int(centre - size / 2.0), int(centre + size / 2.0)
        bounds.append(slice(max(0, low), min(shape[axis], high)))
    return (bounds[0], bounds[1], bounds[2])


class DeepbetExtractor:
    """deepbet's two networks, loaded once; :meth:`__call__` gives the brain mask of a conformed volume."""

    name = "deepbet"

    def __init__(self, weights: DeepbetWeights, device: str = "auto") -> None:
        self.device = select_device(device)
        self.weights = weights
        self.bbox_model = self._load(weights.bbox_model)
        self.mask_model = self._load(weights.mask_model)

    @property
    def description(self) -> str:
        return f"deepbet {self.weights.version} (Fisch et al., Comput Biol Med 2024; MIT)"

    def _load(self, path: Path) -> torch.jit.ScriptModule:
        try:
            # torch 2.13 warns that torch.jit.load is deprecated; deepbet ships TorchScript only
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(str(path), map_location=self.device)
        except (RuntimeError, ValueError, OSError) as exc:
            raise PipelineError(
                f"cannot load deepbet's {path.name}: {exc}; reinstall: {INSTALL_HINT}"
            ) from exc
        return model.eval()

    def __call__(self, conformed: np.ndarray) -> np.ndarray:
        """Brain mask (bool) of a volume on the conformed LIA grid (any intensity scale)."""
        ras = np.ascontiguousarray(CONFORMED_TO_RAS.forward(conformed), dtype=np.float32)
        return np.ascontiguousarray(CONFORMED_TO_RAS.backward(self.ras_mask(ras)))

    @torch.no_grad()
    def ras_mask(self, volume: np.ndarray) -> np.ndarray:
        """deepbet's mask of a RAS+ (closest canonical) array: ``run_model`` then ``postprocess``."""
        x = torch.nan_to_num(torch.from_numpy(volume).to(self.device))
        small = F.interpolate(x[None, None], SMALL_SHAPE, mode="nearest-exact")[0, 0]
        low, high = torch.quantile(small, QUANTILES[0]), torch.quantile(small, QUANTILES[1])
        if float(high) <= float(low):
            raise PipelineError("the image is uniform: no brain to extract")
        small_mask = self.bbox_model(normalize(small, low, high)[None, None])[0, 1] > THRESHOLD
        box = box_with_margin(largest_component_26(small_mask.cpu().numpy()).astype(np.float32), x.shape)
        crop = F.interpolate(x[box][None, None], SHAPE, mode="nearest-exact")
        probability = self.mask_model(normalize(crop, low, high))[:, 1:2]
        crop_shape = tuple(s.stop - s.start for s in box)
        back = F.interpolate(probability, crop_shape, mode="nearest-exact")[0, 0].cpu().numpy()
        mask = np.zeros(volume.shape, dtype=bool)
        mask[box] = ndimage.binary_fill_holes(largest_component_26(back > THRESHOLD))
        return mask
