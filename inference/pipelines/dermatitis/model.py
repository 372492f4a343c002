"""The grading network: a MONAI ResNet backbone with three heads (erythema, excoriation, lichenification).

Each head gives 4 logits (severity 0-3); the network returns them stacked as (N, 3, 4) so a softmax
over the last axis gives each sign's probabilities. ``depth`` picks the ResNet (10/18/34 basic blocks,
50/101/152/200 bottlenecks as in the paper's ResNet-50/101); ``width`` scales the channels (1.0 = the
standard 64-128-256-512). The demonstration bundle uses a small ResNet-18 at quarter width on 64 x 64
crops so that it stays small; a bundle's ``configs/inference.json`` chooses (ResNet-50/101 as the paper).
"""

from __future__ import annotations

import torch
from monai.networks.nets import ResNet
from monai.networks.nets.resnet import ResNetBlock, ResNetBottleneck
from torch import nn

from inference.pipelines.dermatitis.signs import LEVELS, SIGNS

LAYERS: dict[int, tuple[type[ResNetBlock] | type[ResNetBottleneck], list[int]]] = {
    10: (ResNetBlock, [1, 1, 1, 1]),
    18: (ResNetBlock, [2, 2, 2, 2]),
    34: (ResNetBlock, [3, 4, 6, 3]),
    50: (ResNetBottleneck, [3, 4, 6, 3]),
    101: (ResNetBottleneck, [3, 4, 23, 3]),
    152: (ResNetBottleneck, [3, 8, 36, 3]),
    200: (ResNetBottleneck, [3, 24, 36, 3]),
}
BASE_PLANES = (64, 128, 256, 512)


class DermatitisNet(nn.Module):
    """ResNet-``depth`` features, then one linear head of 4 severities per sign: output (N, 3, 4)."""

    def __init__(
        self, depth: int = 50, width: float = 1.0, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f"ResNet depth {depth}: expected one of {sorted(LAYERS)}")
        block, layers = LAYERS[depth]
        planes = [max(8, round(p * width)) for p in BASE_PLANES]
        self.backbone = ResNet(
            block=block,
            layers=layers,
            block_inplanes=planes,
            spatial_dims=2,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            feed_forward=False,
        )
        features = planes[-1] * block.expansion
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(features, LEVELS) for _ in SIGNS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.dropout(self.backbone(x))
        return torch.stack([head(features) for head in self.heads], dim=1)
