"""The per-ROI classifier of the paper and the bank that holds one per ROI (the bundle's network).

``RoiLstm``: a 2-layer LSTM over the (time x points) matrix, a fully connected layer on the last
hidden state and a sigmoid: the probability of class 1. ``RoiLstmBank`` keeps one RoiLstm per ROI
(``ModuleDict`` keyed by ROI number) and maps (N, rois, time, points) to (N, rois) probabilities.
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = 16
LAYERS = 2


class RoiLstm(nn.Module):
    def __init__(self, input_size: int, hidden_size: int = HIDDEN, num_layers: int = LAYERS) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, time, points) -> (N,) probabilities."""
        output, _ = self.lstm(x)
        return torch.sigmoid(self.fc(output[:, -1])).squeeze(-1)


class RoiLstmBank(nn.Module):
    def __init__(
        self, rois: list[int], input_size: int, hidden_size: int = HIDDEN, num_layers: int = LAYERS
    ) -> None:
        super().__init__()
        self.rois = [int(r) for r in rois]
        self.models = nn.ModuleDict({str(r): RoiLstm(input_size, hidden_size, num_layers) for r in self.rois})

    def model(self, roi: int) -> RoiLstm:
        module = self.models[str(roi)]
        assert isinstance(module, RoiLstm)
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, rois, time, points) in the order of ``self.rois`` -> (N, rois) probabilities."""
        return torch.stack([self.model(r)(x[:, i]) for i, r in enumerate(self.rois)], dim=1)
