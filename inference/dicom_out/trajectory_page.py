"""The SC's trajectory pages: one chart per region in a grid, a title, a legend and the banners.

:data:`COLUMNS` charts a row, or :data:`MAX_COLUMNS` when that keeps every region on one page (the
atrophy pipeline's ten regions); a page holds as many rows as fit at :data:`MIN_CHART_HEIGHT` (three
on a full page), further regions go to further pages. Every page is :data:`~layout.MAX_WIDTH` wide
and at most :data:`~layout.MAX_HEIGHT` high, with the same banners as the summary page (red DEMO
notice on top for demonstration weights, the disclaimer burned in at the bottom).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from inference.dicom_out import trajectory as tc
from inference.dicom_out.chart import fit_text
from inference.dicom_out.layout import BANNER_HEIGHT, HEAD, MARGIN, MAX_HEIGHT, MAX_WIDTH, TITLE_FONT, banners
from inference.pipeline import Trajectory

COLUMNS = 3
MAX_COLUMNS = 4
GAP = 10
CHART_HEIGHT = 300  # preferred
MIN_CHART_HEIGHT = 250
LEGEND_HEIGHT = 22
HEADER_HEIGHT = MARGIN + TITLE_FONT + 8 + LEGEND_HEIGHT + 6
SWATCH = 22


@dataclass(frozen=True)
class Cell:
    """Where one chart lies on its page (pixels)."""

    left: int
    top: int
    width: int
    height: int


def _room(demo: bool) -> int:
    return MAX_HEIGHT - (BANNER_HEIGHT if demo else 0) - HEADER_HEIGHT - BANNER_HEIGHT - MARGIN


def rows_per_page(demo: bool) -> int:
    return max(1, (_room(demo) + GAP) // (MIN_CHART_HEIGHT + GAP))


def columns(count: int, demo: bool) -> int:
    """COLUMNS, or MAX_COLUMNS when COLUMNS would need a second page and MAX_COLUMNS would not."""
    return COLUMNS if count <= COLUMNS * rows_per_page(demo) else MAX_COLUMNS


def grid(count: int, demo: bool) -> list[list[Cell]]:
    """The cells of ``count`` charts, page by page, left to right and top to bottom."""
    across = columns(count, demo)
    width = (MAX_WIDTH - 2 * MARGIN - (across - 1) * GAP) // across
    per_page = rows_per_page(demo) * across
    top = (BANNER_HEIGHT if demo else 0) + HEADER_HEIGHT
    pages = []
    for start in range(0, count, per_page):
        n = min(per_page, count - start)
        rows = math.ceil(n / across)
        height = min(CHART_HEIGHT, (_room(demo) - (rows - 1) * GAP) // rows)
        cells = []
        for i in range(n):
            row, column = divmod(i, across)
            cells.append(Cell(MARGIN + column * (width + GAP), top + row * (height + GAP), width, height))
        pages.append(cells)
    return pages


Entry = tuple[str, str, tuple[int, int, int]]  # (swatch kind, text, colour)


def _legend(
    draw: ImageDraw.ImageDraw, x: int, y: int, trajectories: Sequence[Trajectory], shades: tc.Shades
) -> None:
    """Swatches for the points, the median, each band and (if any) the other centile lines."""
    font = tc.font(tc.SMALL_FONT + 2)
    centiles = {float(c) for t in trajectories for c in t.centiles}
    paired = {c for pair in shades for c in pair}
    entries: list[Entry] = [("marker", "measured (date of the study)", tc.MARKER)]
    if 50.0 in centiles:
        entries.append(("line", "median (p50)", tc.MEDIAN))
    for (low, high), shade in shades.items():
        entries.append(("band", f"{tc.centile_name(low)}-{tc.centile_name(high)}", shade))
    others = sorted(centiles - paired - {50.0})
    if others:
        entries.append(("line", ", ".join(tc.centile_name(c) for c in others), tc.CURVE))
    middle = y + LEGEND_HEIGHT // 2
    for kind, text, colour in entries:
        if kind == "marker":
            r = tc.MARKER_RADIUS
            draw.line([(x, middle), (x + SWATCH, middle)], fill=tc.JOIN, width=2)
            draw.ellipse([x + SWATCH // 2 - r, middle - r, x + SWATCH // 2 + r, middle + r], fill=colour)
        elif kind == "line":
            draw.line([(x, middle), (x + SWATCH, middle)], fill=colour, width=2)
        else:
            draw.rectangle([x, middle - 7, x + SWATCH, middle + 7], fill=colour)
        draw.text((x + SWATCH + 6, middle - 8), text, tc.INK, font)
        x += SWATCH + 6 + round(draw.textlength(text, font=font)) + 24


def trajectory_pages(
    trajectories: Sequence[Trajectory],
    title: str,
    disclaimer: str,
    demo: str | None,
    colours: Mapping[int, tc.Colour] | None = None,
) -> list[np.ndarray]:
    """The pages (RGB uint8, MAX_WIDTH wide, at most MAX_HEIGHT high); none without trajectories.

    ``colours``: a region label's colour (as in the SEG), drawn before the title of its chart.
    """
    if not trajectories:
        return []
    shades = tc.band_colours(tc.bands([float(c) for t in trajectories for c in t.centiles]))
    pages = grid(len(trajectories), demo is not None)
    top = BANNER_HEIGHT if demo else 0
    images = []
    done = 0
    for number, cells in enumerate(pages, start=1):
        bottom = max(c.top + c.height for c in cells) + MARGIN + BANNER_HEIGHT
        canvas = Image.new("RGB", (MAX_WIDTH, bottom), tc.BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        heading = title + (f" (page {number} of {len(pages)})" if len(pages) > 1 else "")
        font = tc.font(TITLE_FONT)
        draw.text((MARGIN, top + MARGIN), fit_text(draw, heading, font, MAX_WIDTH - 2 * MARGIN), HEAD, font)
        _legend(draw, MARGIN, top + MARGIN + TITLE_FONT + 8, trajectories, shades)
        for cell, trajectory in zip(cells, trajectories[done : done + len(cells)], strict=True):
            colour = (colours or {}).get(trajectory.region) if trajectory.region is not None else None
            canvas.paste(tc.chart(trajectory, cell.width, cell.height, shades, colour), (cell.left, cell.top))
        done += len(cells)
        banners(canvas, disclaimer, demo)
        images.append(np.asarray(canvas, dtype=np.uint8))
    return images
