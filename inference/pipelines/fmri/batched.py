"""Many independent per-ROI LSTMs trained at once: the paper's models, vectorised over ROIs.

:class:`LstmStack` holds ``R`` separate 2-layer LSTM + FC + sigmoid classifiers (no weight is shared)
and runs them together with batched matrix products, so 200 ROI models cost one training loop
instead of 200. Its equations are those of ``torch.nn.LSTM`` (gates i, f, g, o; two bias vectors),
so :meth:`LstmStack.export` gives each ROI as a plain :class:`~inference.pipelines.fmri.model.RoiLstm`
with the same outputs (tests/inference/test_fmri_protocol.py checks it). The loss is the sum of the
ROIs' mean binary cross-entropies; with Adam (per-parameter step sizes) and no shared parameter each
ROI's model follows its own gradient, as when trained alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from inference.pipelines.fmri.model import LAYERS, RoiLstm


class LstmStack(nn.Module):
    def __init__(
        self, n_models: int, input_size: int, hidden: int, layers: int = LAYERS, seed: int = 0
    ) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        generator = torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(hidden)

        def uniform(*shape: int) -> nn.Parameter:
            return nn.Parameter((torch.rand(*shape, generator=generator) * 2 - 1) * bound)

        sizes = [input_size] + [hidden] * (layers - 1)
        self.w_ih = nn.ParameterList([uniform(n_models, 4 * hidden, s) for s in sizes])
        self.w_hh = nn.ParameterList([uniform(n_models, 4 * hidden, hidden) for _ in sizes])
        self.b_ih = nn.ParameterList([uniform(n_models, 4 * hidden) for _ in sizes])
        self.b_hh = nn.ParameterList([uniform(n_models, 4 * hidden) for _ in sizes])
        self.fc_w = uniform(n_models, 1, hidden)
        self.fc_b = uniform(n_models, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(R, N, time, input) -> (R, N) probabilities."""
        seq = x
        for layer in range(self.layers):
            projected = torch.einsum("rnti,rgi->rntg", seq, self.w_ih[layer])
            projected = projected + (self.b_ih[layer] + self.b_hh[layer])[:, None, None, :]
            w_hh = self.w_hh[layer].transpose(1, 2)
            h = seq.new_zeros(seq.shape[0], seq.shape[1], self.hidden)
            c = torch.zeros_like(h)
            outputs = []
            for step in projected.unbind(dim=2):  # unbind: one gradient buffer, not one per step
                gates = step + torch.bmm(h, w_hh)
                i, f, g, o = gates.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            seq = torch.stack(outputs, dim=2)
        logits = torch.bmm(seq[:, :, -1], self.fc_w.transpose(1, 2)).squeeze(-1) + self.fc_b
        return torch.sigmoid(logits)

    def export(self, index: int) -> RoiLstm:
        """Model ``index`` as a RoiLstm (torch.nn.LSTM) with identical weights."""
        model = RoiLstm(self.w_ih[0].shape[2], self.hidden, self.layers)
        state = {}
        for layer in range(self.layers):
            state[f"lstm.weight_ih_l{layer}"] = self.w_ih[layer][index]
            state[f"lstm.weight_hh_l{layer}"] = self.w_hh[layer][index]
            state[f"lstm.bias_ih_l{layer}"] = self.b_ih[layer][index]
            state[f"lstm.bias_hh_l{layer}"] = self.b_hh[layer][index]
        state["fc.weight"] = self.fc_w[index]
        state["fc.bias"] = self.fc_b[index]
        model.load_state_dict({k: v.detach().clone() for k, v in state.items()})
        return model.eval()


def train_stack(
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    seed: int,
    hidden: int,
    batch: int | None,
    learning_rate: float,
) -> list[RoiLstm]:
    """Train one model per ROI on ``x`` (subjects, rois, time, points) and ``y`` (subjects,) 0/1."""
    inputs = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (1, 0, 2, 3)), dtype=np.float32))
    targets = torch.from_numpy(y.astype(np.float32))
    stack = LstmStack(inputs.shape[0], inputs.shape[-1], hidden, seed=seed)
    optimiser = torch.optim.Adam(stack.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    step = batch or inputs.shape[1]
    stack.train()
    for _ in range(epochs):
        order = torch.randperm(inputs.shape[1], generator=generator)
        for start in range(0, len(order), step):
            chosen = order[start : start + step]
            out = stack(inputs[:, chosen])
            per_roi = torch.nn.functional.binary_cross_entropy(
                out, targets[chosen].expand_as(out), reduction="none"
            ).mean(dim=1)
            optimiser.zero_grad()
            per_roi.sum().backward()
            optimiser.step()
    return [stack.export(i) for i in range(inputs.shape[0])]
