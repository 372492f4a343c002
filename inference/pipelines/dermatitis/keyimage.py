"""The SC summary picture: the photograph, scaled down, with each graded tile outlined and labelled.

A tile's outline colour is its highest severity over the three signs (green 0, yellow 1, orange 2,
red 3); its label reads ``E<erythema> X<excoriation> L<lichenification>``. The region of interest,
when one was used, is outlined in cyan. The table of grades is the SC's text panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from inference.pipelines.dermatitis.tiling import Grid

MAX_SIDE = 1600
SEVERITY_RGB = ((60, 200, 75), (255, 225, 25), (245, 130, 48), (230, 25, 75))
ROI_RGB = (70, 240, 240)


def render(
    photo: np.ndarray,
    grid: Grid,
    severity: np.ndarray,
    graded: np.ndarray,
    roi: np.ndarray | None = None,
    max_side: int = MAX_SIDE,
) -> np.ndarray:
    """RGB uint8 picture: ``photo`` with graded tiles outlined; ``severity`` (rows, cols, 3) 0-3."""
    height, width = photo.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(photo, mode="RGB")
    if scale < 1.0:
        picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if roi is not None:
        small = np.asarray(Image.fromarray(roi.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST))
        inside = small > 0
        edge = ndimage.binary_dilation(inside & ~ndimage.binary_erosion(inside), iterations=1)
        canvas = np.asarray(picture).copy()
        canvas[edge] = ROI_RGB
        picture = Image.fromarray(canvas, mode="RGB")
    draw = ImageDraw.Draw(picture)
    line = max(2, round(min(size) / 300))
    font = ImageFont.load_default(size=max(10, round(grid.tile * scale / 6)))
    for row in range(grid.rows):
        for col in range(grid.cols):
            if not graded[row, col]:
                continue
            left, top, right, bottom = (round(v * scale) for v in grid.box(row, col))
            grades: Sequence[int] = [int(v) for v in severity[row, col]]
            colour = SEVERITY_RGB[max(grades)]
            inset = line // 2
            draw.rectangle(
                (left + inset, top + inset, right - inset - 1, bottom - inset - 1), outline=colour, width=line
            )
            label = f"E{grades[0]} X{grades[1]} L{grades[2]}"
            draw.text(
                (left + 2 * line, top + 2 * line),
                label,
                fill=colour,
                font=font,
                stroke_width=1,
                stroke_fill=(0, 0, 0),
            )
    return np.asarray(picture, dtype=np.uint8)
