"""Train the lung UNet on real radiographs (``cxr_lungs``) within a wall-clock budget, on CPU.

``python -m inference.pipelines.rds.lung_training DATA --out DIR [--minutes 50]``

- Films: the training part of :mod:`inference.pipelines.rds.cxr_lungs`, only those whose licence allows
  redistributing the model (all paediatric, CC BY adult); the CC BY adult films are repeated
  ``--adult-repeat`` times per epoch (few of them, a different population).
- Input: the pipeline's own preprocessing (:func:`~inference.pipelines.rds.images.to_working`).
- Augmentation, per image, on the batch: rotation (+-10 deg), scale (0.85-1.15), shift (+-8 %),
  gamma, contrast, brightness, noise. No flips: the sides are labels (patient right / left).
- Loss Dice + cross-entropy; AdamW; the learning rate follows a cosine over the time budget (so a
  run on a busy machine still ends annealed); training stops at the budget or ``--epochs``.
- After each epoch: median Dice per lung on the validation part; ``best.pt`` (highest mean of the two
  medians) and ``last.pt`` are saved, so an interrupted run is usable.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.pipelines.rds.cxr_lungs import Loaded, films, load, select
from inference.pipelines.rds.networks import instantiate, unet_config
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG

LUNG_CHANNELS = (8, 16, 32, 64, 128)


def augment(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random affine (no flip) + intensity changes of a batch ``x`` (N,1,H,W) with labels ``y`` (N,1,H,W)."""
    import torch.nn.functional as F

    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.85, 1.15)
    shift = torch.stack([uniform(-0.08, 0.08), uniform(-0.08, 0.08)], dim=1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False).long()
    gamma = torch.exp(uniform(-0.4, 0.4)).view(n, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma
    contrast, brightness = uniform(0.8, 1.2).view(n, 1, 1, 1), uniform(-0.1, 0.1).view(n, 1, 1, 1)
    x = (x - 0.5) * contrast + 0.5 + brightness
    x = x + 0.02 * torch.rand(n, 1, 1, 1, generator=generator) * torch.randn(x.shape, generator=generator)
    return x.clamp(0, 1), y


def dice(predicted: np.ndarray, truth: np.ndarray, lung: int) -> float:
    p, t = predicted == lung, truth == lung
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int((p & t).sum()) / total


def predict(network: torch.nn.Module, images: torch.Tensor, batch: int = 32) -> np.ndarray:
    network.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            out.append(network(images[start : start + batch]).argmax(1).numpy().astype(np.uint8))
    return np.concatenate(out)


def validation_scores(network: torch.nn.Module, data: list[Loaded]) -> dict[str, float]:
    images = torch.from_numpy(np.stack([d.image for d in data]))[:, None]
    labels = predict(network, images)
    scores: dict[str, float] = {}
    for group in ("peds", "adult"):
        rows = [i for i, d in enumerate(data) if d.film.group == group]
        for lung, side in ((RIGHT_LUNG, "right"), (LEFT_LUNG, "left")):
            values = [dice(labels[i], data[i].labels, lung) for i in rows]
            scores[f"{group}_{side}"] = float(np.median(values)) if values else float("nan")
    return scores


def train(args: argparse.Namespace) -> dict[str, Any]:
    from monai.losses import DiceCELoss

    torch.manual_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    every = films(args.data)
    train_films = select(every, "train", trainable_only=True)
    val_films = select(every, "val")
    started = time.monotonic()
    train_data = [load(f, args.size) for f in train_films]
    val_data = [load(f, args.size) for f in val_films]
    print(
        f"loaded {len(train_data)} train, {len(val_data)} val in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    repeats = [args.adult_repeat if d.film.group == "adult" else 1 for d in train_data]
    index = np.repeat(np.arange(len(train_data)), repeats)
    images = torch.from_numpy(np.stack([d.image for d in train_data]))[:, None]
    masks = torch.from_numpy(np.stack([d.labels for d in train_data]).astype(np.int64))[:, None]
    config = unet_config(LUNG_CHANNELS)
    network = instantiate(config)
    optimiser = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    generator = torch.Generator().manual_seed(args.seed)
    budget = args.minutes * 60.0
    clock = time.monotonic()
    history: list[dict[str, Any]] = []
    best = -1.0
    for epoch in range(args.epochs):
        network.train()
        order = torch.from_numpy(index)[torch.randperm(len(index), generator=generator)]
        total, seen = 0.0, 0
        for start in range(0, len(order), args.batch_size):
            fraction = min(1.0, (time.monotonic() - clock) / budget)
            for group in optimiser.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * fraction))
            batch = order[start : start + args.batch_size]
            x, y = augment(images[batch], masks[batch], generator)
            optimiser.zero_grad()
            loss = loss_fn(network(x), y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        scores = validation_scores(network, val_data)
        elapsed = time.monotonic() - clock
        mean = float(np.nanmean(list(scores.values())))
        history.append(
            {"epoch": epoch + 1, "loss": round(total / seen, 4), "minutes": round(elapsed / 60, 1)}
        )
        history[-1].update({k: round(v, 4) for k, v in scores.items()})
        print(json.dumps(history[-1]), flush=True)
        state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        torch.save({"config": config, "state": state, "epoch": epoch + 1, "val": scores}, out / "last.pt")
        if mean > best:
            best = mean
            torch.save({"config": config, "state": state, "epoch": epoch + 1, "val": scores}, out / "best.pt")
        if elapsed >= budget:
            break
    info = {
        "size": args.size,
        "channels": list(LUNG_CHANNELS),
        "train_films": {g: sum(d.film.group == g for d in train_data) for g in ("peds", "adult")},
        "val_films": {g: sum(d.film.group == g for d in val_data) for g in ("peds", "adult")},
        "adult_repeat": args.adult_repeat,
        "epochs": len(history),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "minutes": round((time.monotonic() - clock) / 60, 1),
        "seed": args.seed,
        "history": history,
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the cxr_lungs folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for best.pt, last.pt, training.json")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--minutes", type=float, default=50.0, help="wall-clock training budget")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--adult-repeat", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
