"""A synthetic skin-texture generator: redness, scratch lines and thickened texture at 4 levels.

No dermatitis photographs can be had here, so the demonstration weights are trained on these
textures. They are NOT clinical images and the weights trained on them say nothing about real skin.

- erythema: a blotchy blend towards red, stronger with the level;
- excoriation: short dark-red scratch lines, more, wider and darker with the level;
- lichenification: accentuated criss-cross skin lines (a thickened, dull texture), deeper with the level.

:func:`patch` renders one lesion crop (the unit the paper graded); :func:`photograph` renders a whole
"photograph": skin on a drape, one crop per tile of a grid, scaled up to any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

PATCH = 64
LIGHT = np.array([232.0, 190.0, 165.0])
MEDIUM = np.array([190.0, 140.0, 115.0])
RED = np.array([205.0, 55.0, 60.0])
CRUST = np.array([115.0, 30.0, 35.0])
DRAPE = np.array([40.0, 95.0, 145.0])
ERYTHEMA_STRENGTH = (0.0, 0.25, 0.45, 0.65)
LICHEN_DEPTH = (0.0, 0.09, 0.18, 0.28)
LICHEN_PERIOD = (8.0, 8.0, 7.0, 6.0)  # pixels at PATCH size: coarser skin lines, thicker plaque
SCRATCHES = ((0, 0), (1, 2), (3, 4), (6, 8))
SCRATCH_WIDTH = (0.0, 1.0, 1.4, 1.9)
SCRATCH_ALPHA = (0.0, 0.6, 0.75, 0.9)


def _smooth(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """A smooth random field scaled to about [-1, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return field / (np.abs(field).max() + 1e-9)


def _scratches(rng: np.random.Generator, size: int, level: int) -> np.ndarray:
    """Opacity [0, 1] of ``level``-dependent scratch lines (line segments with soft edges)."""
    low, high = SCRATCHES[level]
    if high == 0:
        return np.zeros((size, size))
    yy, xx = np.mgrid[:size, :size].astype(float)
    width = SCRATCH_WIDTH[level] * size / PATCH
    alpha = np.zeros((size, size))
    for _ in range(int(rng.integers(low, high + 1))):
        cy, cx = rng.uniform(0.15, 0.85, 2) * size
        angle = rng.uniform(0, math.pi)
        half = rng.uniform(0.12, 0.3) * size
        dy, dx = math.sin(angle), math.cos(angle)
        along = np.clip((yy - cy) * dy + (xx - cx) * dx, -half, half)
        dist = np.hypot(yy - (cy + along * dy), xx - (cx + along * dx))
        alpha = np.maximum(alpha, np.clip(1.0 - dist / width, 0.0, 1.0))
    return alpha * SCRATCH_ALPHA[level]


def _skin_lines(rng: np.random.Generator, size: int, level: int) -> np.ndarray:
    """Depth [0, 1] of criss-cross skin lines; zero below level 1 except a faint normal texture."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    period = LICHEN_PERIOD[level] * size / PATCH
    first = rng.uniform(0, math.pi)
    ridges = np.zeros((size, size))
    for angle in (first, first + math.pi / 2 + rng.uniform(-0.35, 0.35)):
        phase = rng.uniform(0, 2 * math.pi)
        wave = np.cos(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period + phase)
        ridges = np.maximum(ridges, ((wave + 1) / 2) ** 6)
    depth = LICHEN_DEPTH[level] if level else 0.025
    return ridges * depth


def patch(levels: tuple[int, int, int], rng: np.random.Generator, size: int = PATCH) -> np.ndarray:
    """One synthetic lesion crop (size, size, 3) uint8 for (erythema, excoriation, lichenification)."""
    erythema, excoriation, lichen = (int(v) for v in levels)
    tone = rng.uniform(0.0, 1.0)
    base = LIGHT * (1 - tone) + MEDIUM * tone
    shade = 1.0 + 0.05 * _smooth(rng, size, size / 6)
    img = base[None, None, :] * shade[..., None]
    if erythema:
        blotch = np.clip(0.75 + 0.5 * _smooth(rng, size, size / 8), 0.3, 1.0)
        strength = ERYTHEMA_STRENGTH[erythema] * rng.uniform(0.9, 1.1) * blotch
        img = img * (1 - strength[..., None]) + RED * strength[..., None]
    depth = _skin_lines(rng, size, lichen)
    img = img * (1 - depth[..., None])
    if lichen:
        grey = img.mean(axis=-1, keepdims=True)
        dull = 0.6 * LICHEN_DEPTH[lichen]
        img = img * (1 - dull) + grey * dull
    scratch = _scratches(rng, size, excoriation)
    img = img * (1 - scratch[..., None]) + CRUST * scratch[..., None]
    img = img + rng.normal(0.0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def patches(count: int, seed: int, size: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """``count`` crops (N, size, size, 3) uint8 and their levels (N, 3), balanced per sign."""
    rng = np.random.default_rng(seed)
    labels = np.stack([np.resize(rng.permutation(4), count) for _ in range(3)], axis=1)
    for column in range(3):
        rng.shuffle(labels[:, column])
    images = np.stack([patch((int(a), int(b), int(c)), rng, size) for a, b, c in labels])
    return images, labels.astype(np.int64)


@dataclass(frozen=True)
class SyntheticPhoto:
    """A synthetic photograph (rows, cols, 3) uint8 and its truth per tile (grid rows, grid cols, 3)."""

    pixels: np.ndarray
    levels: np.ndarray
    skin: np.ndarray  # bool (grid rows, grid cols): the tile is mostly skin


def photograph(
    levels: np.ndarray, width: int, height: int, seed: int = 0, skin_fraction: float = 0.8
) -> SyntheticPhoto:
    """A photograph of ``width`` x ``height`` with one crop per tile of ``levels`` (grid rows, cols, 3).

    Skin fills an ellipse covering ``skin_fraction`` of each axis; the rest is a blue drape. The grid
    tiles the photograph exactly (the pipeline tiles the same way when the aspect ratio matches).
    """
    rng = np.random.default_rng(seed)
    grid_rows, grid_cols = levels.shape[:2]
    low = np.zeros((grid_rows * PATCH, grid_cols * PATCH, 3))
    for r in range(grid_rows):
        for c in range(grid_cols):
            tile = patch(tuple(int(v) for v in levels[r, c]), rng)  # type: ignore[arg-type]
            low[r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH] = tile
    yy, xx = np.mgrid[: low.shape[0], : low.shape[1]].astype(float)
    ry, rx = low.shape[0] * skin_fraction / 2, low.shape[1] * skin_fraction / 2
    inside = ((yy + 0.5 - low.shape[0] / 2) / ry) ** 2 + ((xx + 0.5 - low.shape[1] / 2) / rx) ** 2 <= 1
    drape = DRAPE * (1 + 0.08 * _smooth(rng, max(low.shape[:2]), 12)[: low.shape[0], : low.shape[1], None])
    low = np.where(inside[..., None], low, drape)
    skin = inside.reshape(grid_rows, PATCH, grid_cols, PATCH).mean(axis=(1, 3)) >= 0.5
    image = Image.fromarray(np.clip(low, 0, 255).astype(np.uint8), mode="RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return SyntheticPhoto(pixels=np.asarray(image, dtype=np.uint8), levels=levels.copy(), skin=skin)
