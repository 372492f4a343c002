"""The two networks of the RDS pipeline at work: segmentation with post-processing, classification,
Grad-CAM. Shared by the pipeline, the trainer (classifier inputs from predicted masks) and evaluation.
"""

from __future__ import annotations

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
    band_fraction: float = 0.12
    threshold: float = 0.5
    variant: str = "b0"

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
            band_fraction=float(current["band_fraction"]),
            threshold=float(current["threshold"]),
            variant=str(current["variant"]),
        )


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
        )

    def classifier_input(self, image: np.ndarray, segmentation: Segmentation) -> np.ndarray:
        """The lung-masked, spine-band-free image in the frame the lungs were found upright in."""
        upright = np.rot90(image, segmentation.quarter_turns)
        return classifier_input(upright, segmentation.upright, self.settings.band_fraction)

    def probability(self, masked: np.ndarray) -> float:
        with torch.inference_mode():
            logit = self.classifier(self._tensor(masked))
        return float(torch.sigmoid(logit).reshape(-1)[0])

    def classify(self, masked: np.ndarray) -> Classification:
        """RDS probability and the Grad-CAM heat map of the classifier's logit."""
        from monai.visualize import GradCAM

        cam = GradCAM(nn_module=self.classifier, target_layers=GRADCAM_LAYER)
        x = self._tensor(masked)
        with torch.enable_grad():
            heat = cam(x=x, class_idx=0)
            with torch.inference_mode():
                logit = self.classifier(x)
        values = heat[0, 0].detach().cpu().numpy().astype(np.float32)
        values = np.nan_to_num(values)
        if values.max() > values.min():
            values = (values - values.min()) / (values.max() - values.min())
        else:
            values = np.zeros_like(values)
        return Classification(float(torch.sigmoid(logit).reshape(-1)[0]), values)
