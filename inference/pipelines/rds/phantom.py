"""Synthetic neonatal chest radiograph phantom: thorax, two lungs, heart, spine, ribs, tubes and lines.

No public neonatal chest X-rays with lung masks can be redistributed, so the demonstration bundle is
trained on this phantom. A case is drawn from a seeded generator and gives a grey image in [0, 1]
(MONOCHROME2: dense is bright), a label map (0 background, 1 right lung, 2 left lung, in radiological
display: the patient's right lung on the image's left) and the RDS label.

- RDS lungs show ground-glass opacity: brighter lung fields with a fine granular (reticulogranular)
  texture and, sometimes, air bronchograms; normal lungs are dark and clear.
- Devices the paper found distracting are drawn on top: endotracheal tube and nasogastric tube along
  the midline, umbilical lines, ECG electrodes.
- Random position, size, exposure, a small tilt and, with ``quarter_turn_fraction``, a rotation by
  90/180/270 degrees (the rotated images the paper re-predicts).

Nothing here uses torch: the generator also writes training sets to disk (``write_training_set``) and
runs as ``python -m inference.pipelines.rds.phantom OUT``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

RIGHT_LUNG = 1
LEFT_LUNG = 2


@dataclass(frozen=True)
class PhantomCase:
    """One generated radiograph: ``image`` in [0, 1], ``labels`` (0/1/2), RDS label, rotation applied."""

    image: np.ndarray
    labels: np.ndarray
    rds: bool
    quarter_turns: int  # counter-clockwise quarter turns applied after drawing (np.rot90's k)


def _ellipse(
    yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float | np.ndarray
) -> np.ndarray:
    return np.asarray(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return noise / (np.abs(noise).max() + 1e-6)


def _line(canvas: np.ndarray, points: np.ndarray, width: float, value: float) -> None:
    """Draw a polyline through ``points`` (N, 2 as row, col) with ``width`` pixels, max-blended."""
    rows, cols = canvas.shape
    yy, xx = np.mgrid[:rows, :cols]
    for (y0, x0), (y1, x1) in itertools.pairwise(points):
        dy, dx = y1 - y0, x1 - x0
        length2 = dy * dy + dx * dx + 1e-9
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / length2, 0, 1)
        dist = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
        np.maximum(canvas, np.where(dist <= width / 2, value, 0.0), out=canvas)


def _lungs(
    yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator, cy: float, cx: float, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right lung, left lung (heart cut out) and heart masks for a thorax centred at (cy, cx)."""
    gap = scale * rng.uniform(0.08, 0.11)
    ry, rx = scale * rng.uniform(0.45, 0.55), scale * rng.uniform(0.2, 0.24)
    # narrow apices, wide bases: the half-width grows from 55 % at the top to 100 % at the bottom
    widen = 0.55 + 0.45 * np.clip((yy - (cy - ry)) / (1.7 * ry), 0, 1)
    right = _ellipse(yy, xx, cy, cx - gap - rx, ry, rx * widen)
    left = _ellipse(yy, xx, cy + scale * 0.02, cx + gap + rx * 0.95, ry * 0.95, rx * 0.95 * widen)
    # lungs are flat at the bottom (diaphragm) and rounded at the apex
    right &= yy < cy + ry * rng.uniform(0.7, 0.85)
    left &= yy < cy + ry * rng.uniform(0.75, 0.9)
    heart = _ellipse(yy, xx, cy + ry * 0.5, cx + scale * 0.06, scale * 0.2, scale * 0.19)
    return right & ~heart, left & ~heart, heart


def _devices(canvas: np.ndarray, rng: np.random.Generator, cy: float, cx: float, scale: float) -> None:
    rows = canvas.shape[0]
    width = max(1.0, scale * 0.025)
    if rng.random() < 0.8:  # endotracheal tube down the midline
        tip = cy - scale * rng.uniform(0.2, 0.35)
        _line(canvas, np.array([[0, cx + rng.uniform(-3, 3)], [tip, cx + rng.uniform(-2, 2)]]), width, 1.0)
    if rng.random() < 0.6:  # nasogastric tube into the abdomen
        bottom = min(rows - 1.0, cy + scale * 0.9)
        pts = np.array([[0, cx - 4], [cy, cx - 2 + rng.uniform(-3, 3)], [bottom, cx + scale * 0.2]])
        _line(canvas, pts, width * 0.8, 0.9)
    if rng.random() < 0.5:  # umbilical venous line from below
        pts = np.array([[rows - 1.0, cx + scale * 0.1], [cy + scale * 0.3, cx + rng.uniform(-4, 4)]])
        _line(canvas, pts, width * 0.6, 0.95)
    yy, xx = np.mgrid[: canvas.shape[0], : canvas.shape[1]]
    for _ in range(int(rng.integers(0, 4))):  # ECG electrodes
        ey, ex = cy + rng.uniform(-0.6, 0.6) * scale, cx + rng.uniform(-0.7, 0.7) * scale
        ring = _ellipse(yy, xx, ey, ex, scale * 0.06, scale * 0.06)
        ring &= ~_ellipse(yy, xx, ey, ex, scale * 0.04, scale * 0.04)
        np.maximum(canvas, np.where(ring, 0.85, 0.0), out=canvas)


def make_case(
    rng: np.random.Generator, size: int = 128, rds: bool | None = None, quarter_turn_fraction: float = 0.0
) -> PhantomCase:
    """Draw one phantom radiograph of ``size`` x ``size`` pixels."""
    rds = bool(rng.random() < 0.5) if rds is None else rds
    yy, xx = np.mgrid[:size, :size].astype(float)
    scale = size * rng.uniform(0.38, 0.48)  # the thorax fills only part of a neonatal radiograph
    cy, cx = size * rng.uniform(0.42, 0.55), size * rng.uniform(0.45, 0.55)
    image = np.full((size, size), 0.05) + 0.03 * _smooth_noise(rng, (size, size), size / 16)
    body = _ellipse(yy, xx, cy + scale * 0.15, cx, scale * 1.25, scale * 0.8)
    image[body] = 0.55
    right, left, heart = _lungs(yy, xx, rng, cy, cx, scale)
    lungs = right | left
    severity = rng.uniform(0.55, 1.0) if rds else rng.uniform(0.0, 0.3)
    texture = _smooth_noise(rng, (size, size), max(0.6, size / 160))
    lung_value = 0.18 + 0.22 * severity + 0.08 * severity * texture
    lung_soft = ndimage.gaussian_filter(lungs.astype(float), max(1.0, size / 64))
    image = image * (1 - lung_soft) + lung_value * lung_soft
    image[heart & body] = 0.62
    ribs = (np.sin(yy / scale * 14 + 0.4 * np.abs(xx - cx) / scale * 6) > 0.85) & body
    image[ribs] += 0.06
    spine = (np.abs(xx - cx) < scale * 0.07) & body
    image[spine] = (0.7 + 0.05 * (np.sin(yy / scale * 25) > 0))[spine]
    _devices(image, rng, cy, cx, scale)
    gain, offset = rng.uniform(0.8, 1.15), rng.uniform(-0.05, 0.05)
    image = ndimage.gaussian_filter(image, 0.6) * gain + offset
    image += rng.normal(0, 0.015, image.shape)
    labels = np.zeros((size, size), np.uint8)
    labels[right] = RIGHT_LUNG
    labels[left] = LEFT_LUNG
    tilt = rng.uniform(-8, 8)
    image = ndimage.rotate(image, tilt, reshape=False, order=1, mode="nearest")
    labels = ndimage.rotate(labels, tilt, reshape=False, order=0, mode="constant")
    turns = int(rng.integers(1, 4)) if rng.random() < quarter_turn_fraction else 0
    image, labels = np.rot90(image, turns), np.rot90(labels, turns)
    return PhantomCase(np.clip(image, 0, 1).astype(np.float32), np.ascontiguousarray(labels), rds, turns)


def write_training_set(
    folder: Path, count: int, seed: int = 0, size: int = 128, quarter_turn_fraction: float = 0.0
) -> Path:
    """Write ``count`` cases in the layout ``dicom-node train rds`` reads; return ``folder``.

    ``images/<id>.png`` (8-bit grey), ``masks/<id>.png`` (0 background, 1 right lung, 2 left lung),
    ``labels.csv`` with columns ``image,rds`` (1 = RDS).
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        case = make_case(rng, size, quarter_turn_fraction=quarter_turn_fraction)
        name = f"phantom{index:04d}"
        Image.fromarray((case.image * 255).round().astype(np.uint8)).save(folder / "images" / f"{name}.png")
        Image.fromarray(case.labels).save(folder / "masks" / f"{name}.png")
        rows.append((name, int(case.rds)))
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "rds"])
        writer.writerows(rows)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.pipelines.rds.phantom",
        description="write a synthetic neonatal chest phantom training set (images/, masks/, labels.csv)",
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--quarter-turn-fraction", type=float, default=0.0)
    args = parser.parse_args(argv)
    write_training_set(args.out, args.count, args.seed, args.size, args.quarter_turn_fraction)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
