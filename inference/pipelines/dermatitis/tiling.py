"""Tile a whole photograph into a grid of crops the size the network was trained on, and grade them.

The paper graded crops of the lesion; here the photograph is covered by a grid of square tiles,
``tiles_short_side`` along its shorter side (centred, the remainder at the borders left out), and
each tile is scaled down to the network's crop size. Tiles mostly outside the region of interest
(skin, or the ROI drawn by the user) are not graded. Per sign, the result is the worst graded tile
and the area-weighted severity (each tile weighted by its area inside the region).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from inference.pipelines.dermatitis.signs import SIGNS


@dataclass(frozen=True)
class Grid:
    """``rows`` x ``cols`` square tiles of ``tile`` source pixels, the first at (``top``, ``left``)."""

    rows: int
    cols: int
    tile: int
    top: int
    left: int

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of one tile in source pixels."""
        x, y = self.left + col * self.tile, self.top + row * self.tile
        return x, y, x + self.tile, y + self.tile


def grid_for(height: int, width: int, tiles_short_side: int) -> Grid:
    """The tile grid of a ``height`` x ``width`` photograph."""
    if tiles_short_side < 1:
        raise ValueError("tiles_short_side must be at least 1")
    tile = max(1, min(height, width) // tiles_short_side)
    rows, cols = max(1, height // tile), max(1, width // tile)
    return Grid(rows, cols, tile, (height - rows * tile) // 2, (width - cols * tile) // 2)


def reduce(image: np.ndarray, grid: Grid, patch: int, resample: Image.Resampling) -> np.ndarray:
    """The gridded area of ``image`` scaled so that each tile is ``patch`` pixels wide."""
    area = (grid.left, grid.top, grid.left + grid.cols * grid.tile, grid.top + grid.rows * grid.tile)
    size = (grid.cols * patch, grid.rows * patch)
    mode = "RGB" if image.ndim == 3 else "L"
    picture = Image.fromarray(image, mode=mode)
    return np.asarray(picture.resize(size, resample, box=area, reducing_gap=3.0))


def tiles(reduced: np.ndarray, grid: Grid, patch: int) -> np.ndarray:
    """Crops (rows * cols, patch, patch, 3) in row-major order from a reduced image."""
    blocks = reduced.reshape(grid.rows, patch, grid.cols, patch, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(blocks.reshape(grid.rows * grid.cols, patch, patch, 3))


def coverage(mask: np.ndarray, grid: Grid, patch: int) -> np.ndarray:
    """Fraction (rows, cols) of each tile inside ``mask`` (a boolean image at the reduced size)."""
    blocks = mask.reshape(grid.rows, patch, grid.cols, patch)
    return np.asarray(blocks.mean(axis=(1, 3)), dtype=float)


@dataclass(frozen=True)
class SignGrade:
    """One sign over the graded tiles."""

    key: str
    worst: int  # 0-3, the highest severity of any graded tile
    probability: float  # the network's probability of that severity in that tile
    worst_tile: tuple[int, int] | None  # (row, col)
    area_weighted: float  # sum(severity * area) / sum(area)


def aggregate(probabilities: np.ndarray, weights: np.ndarray) -> list[SignGrade]:
    """Per-sign grades from tile probabilities (rows, cols, 3, 4) and tile areas (rows, cols).

    Tiles with zero weight are not graded. The worst tile is the one with the highest severity,
    ties broken by that severity's probability. With no graded tile every sign is 0 with p = 0.
    """
    grades: list[SignGrade] = []
    severity = probabilities.argmax(axis=-1)  # (rows, cols, 3)
    graded = weights > 0
    total = float(weights[graded].sum())
    for index, sign in enumerate(SIGNS):
        if not graded.any():
            grades.append(SignGrade(sign.key, 0, 0.0, None, 0.0))
            continue
        level = severity[..., index]
        chance = np.take_along_axis(probabilities[..., index, :], level[..., None], axis=-1)[..., 0]
        score = np.where(graded, level + chance * 0.999, -1.0)
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        weighted = float((level[graded] * weights[graded]).sum() / total)
        grades.append(
            SignGrade(
                key=sign.key,
                worst=int(level[row, col]),
                probability=float(chance[row, col]),
                worst_tile=(int(row), int(col)),
                area_weighted=weighted,
            )
        )
    return grades
