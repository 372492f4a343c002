"""The two networks of the RDS pipeline at work: segmentation with post-processing, classification,
Grad-CAM. Shared by the pipeline, the trainer (classifier inputs from predicted masks) and evaluation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inference.pipelines.rds.networks import GRADCAM_LAYER
from inference.pipelines.rds.postprocess import (
    Segmentation,
    classifier_input,
    min_lung_area,
    segment_with_fallback,
)


@dataclass(frozen=True)
class RdsSettings:
    """Working parameters; the bundle's ``rds`` metadata gives the defaults, node ``params`` override."""

    working_size: int = 128
    median_kernel: int = 5
    rotate: bool = True
    rotation_trigger: str = "area"  # "area" (the paper) or "layout" (also when lungs not side by side)
    min_area_px: int | None = None  # None: the paper's 10,000 px scaled to the working resolution
    rotation_margin: float = 1.5  # a turned prediction wins only when this much more plausible
    band_fraction: float = 0.12
    threshold: float = 0.5
    variant: str = "b0"
    threads: int = 1  # torch intra-op threads while the networks run (0: leave torch's own setting)

    @property
    def min_area(self) -> int:
        return self.min_area_px if self.min_area_px is not None else min_lung_area(self.working_size)

    def with_overrides(self, values: dict[str, Any]) -> RdsSettings:
        known = {k: v for k, v in values.items() if k in self.__dataclass_fields__}
        current = {k: getattr(self, k) for k in self.__dataclass_fields__}
        current.update(known)
        return RdsSettings(
            working_size=int(current["working_size"]),
            median_kernel=int(current["median_kernel"]),
            rotate=str(current["rotate"]).lower() not in ("false", "0", "no"),
            rotation_trigger=str(current["rotation_trigger"]),
            min_area_px=None if current["min_area_px"] in (None, "") else int(current["min_area_px"]),
            rotation_margin=float(current["rotation_margin"]),
            band_fraction=float(current["band_fraction"]),
            threshold=float(current["threshold"]),
            variant=str(current["variant"]),
            threads=int(current["threads"]),
        )


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` torch intra-op threads (0: unchanged), then restore the setting.

    The RDS networks work at a small resolution (128 x 128 by default): one forward pass is a few
    milliseconds, too short for intra-op threads to pay for their hand-offs. On a busy 2-core machine
    two threads made the UNet and Grad-CAM ten times slower than one (the threads wait for each other's
    turn on the CPU), so the pipeline runs them on one thread unless the settings say otherwise.
    """
    previous = torch.get_num_threads()
    if threads <= 0 or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Classification:
    probability: float
    heat_map: np.ndarray  # Grad-CAM in [0, 1], upright working frame


class RdsModel:
    """UNet + EfficientNet on a working-resolution image (2D float32 in [0, 1])."""

    def __init__(self, unet: torch.nn.Module, classifier: torch.nn.Module, settings: RdsSettings) -> None:
        self.unet = unet.eval()
        self.classifier = classifier.eval()
        self.settings = settings
        self.device = next(unet.parameters()).device
        self._cam: Any = None
        self._cam_lock = threading.Lock()

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(image, dtype=np.float32, copy=True))[None, None].to(self.device)

    def predict_labels(self, image: np.ndarray) -> np.ndarray:
        """Raw UNet label map (argmax; 0, 1 right lung, 2 left lung)."""
        with torch.inference_mode():
            logits = self.unet(self._tensor(image))
        return logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8)

    def segment(
        self, image: np.ndarray, kernel: int | None = None, rotate: bool | None = None
    ) -> Segmentation:
        s = self.settings
        return segment_with_fallback(
            self.predict_labels,
            image,
            kernel=s.median_kernel if kernel is None else kernel,
            min_area=s.min_area,
            rotate=s.rotate if rotate is None else rotate,
            trigger=s.rotation_trigger,
            margin=s.rotation_margin,
        )

    def classifier_input(self, image: np.ndarray, segmentation: Segmentation) -> np.ndarray:
        """The lung-masked, spine-band-free image in the frame the lungs were found upright in."""
        upright = np.rot90(image, segmentation.quarter_turns)
        return classifier_input(upright, segmentation.upright, self.settings.band_fraction)

    def probability(self, masked: np.ndarray) -> float:
        with torch.inference_mode():
            logit = self.classifier(self._tensor(masked))
        return float(torch.sigmoid(logit).reshape(-1)[0])

    def _grad_cam(self) -> Any:
        """MONAI's Grad-CAM of the classifier, built once: each construction registers its forward and
        backward hooks on the target layer for good, so building one per image would pile hooks up."""
        if self._cam is None:
            from monai.visualize import GradCAM

            self._cam = GradCAM(nn_module=self.classifier, target_layers=GRADCAM_LAYER)
        return self._cam

    def classify(self, masked: np.ndarray) -> Classification:
        """RDS probability and the Grad-CAM heat map of the classifier's logit.

        One forward and one backward pass: the probability is the sigmoid of the logit Grad-CAM
        back-propagated (the class score its hooked model keeps), not of a second forward pass.
        """
        x = self._tensor(masked)
        with self._cam_lock, torch.enable_grad():
            cam = self._grad_cam()
            heat = cam(x=x, class_idx=0)
            logit = cam.nn_module.score.detach()
        values = heat[0, 0].detach().cpu().numpy().astype(np.float32)
        values = np.nan_to_num(values)
        if values.max() > values.min():
            values = (values - values.min()) / (values.max() - values.min())
        else:
            values = np.zeros_like(values)
        return Classification(float(torch.sigmoid(logit).reshape(-1)[0]), values)
