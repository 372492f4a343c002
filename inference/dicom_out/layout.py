"""The Secondary Capture page: pictures on the left, one compact text panel on the right, banners.

It fits a 1080p viewport at 100 % (at most :data:`MAX_WIDTH` x :data:`MAX_HEIGHT`). One picture (a
radiograph, a key frame, a pipeline's own picture) is scaled to the picture area; three orthogonal
views are laid out as one large view with two half-height views beside it. The text panel holds the
pipeline and model, the pipeline's summary, one table of results (where, what, value) and the notes;
lines that do not fit are counted ("N more lines: see the SR"). A red DEMO banner runs across the top
when the model is a demonstration; the disclaimer is burned into a banner at the bottom, always.
Text is ASCII so the image reads the same on every viewer; no patient identity is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_WIDTH = 1280
MAX_HEIGHT = 1000
PANEL_WIDTH = 470
FIRST_COLUMN = 160
BANNER_HEIGHT = 28
LINE = 19
FONT = 15
TITLE_FONT = 20
MARGIN = 10
GAP = 4
INK = (235, 235, 235)
HEAD = (255, 215, 0)
DIM = (170, 170, 170)
DEMO_RED = (190, 20, 20)


@dataclass(frozen=True)
class Row:
    """One table row: the cells, first the place ("image" or a region's name)."""

    cells: tuple[str, ...]


@dataclass(frozen=True)
class Panel:
    title: str
    model: str
    summary: Sequence[str]
    header: Row | None
    rows: Sequence[Row]
    notes: Sequence[str]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _scaled(image: np.ndarray, height: int) -> Image.Image:
    picture = Image.fromarray(image, mode="RGB")
    width = max(1, round(picture.width * height / picture.height))
    return picture.resize((width, max(1, height)), Image.Resampling.BILINEAR)


def arrange(pictures: Sequence[np.ndarray], width: int, height: int) -> Image.Image:
    """One picture scaled into ``width`` x ``height``; three as one large + two half-height views."""
    if len(pictures) == 1:
        rows, cols = pictures[0].shape[:2]
        scale = min(width / cols, height / rows)
        return _scaled(pictures[0], max(1, int(rows * scale)))
    big, *small = pictures
    ratio_big = big.shape[1] / big.shape[0]
    ratio_small = max(p.shape[1] / p.shape[0] for p in small)
    tall = int(min(height, (width - GAP) / (ratio_big + ratio_small / 2)))
    half = (tall - GAP) // 2
    first = _scaled(big, tall)
    others = [_scaled(p, half) for p in small]
    canvas = Image.new("RGB", (first.width + GAP + max(o.width for o in others), tall), (0, 0, 0))
    canvas.paste(first, (0, 0))
    for i, other in enumerate(others):
        canvas.paste(other, (first.width + GAP, i * (half + GAP)))
    return canvas


def _wrap(
    text: str, width: int, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> list[str]:
    rows: list[str] = []
    current = ""
    for word in _ascii(text).split(" "):
        candidate = f"{current} {word}" if current else word
        if current and draw.textlength(candidate, font=font) > width:
            rows.append(current)
            current = "  " + word
        else:
            current = candidate
    rows.append(current)
    return rows


def _fit(
    text: str, width: float, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> str:
    text = _ascii(text)
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "."
    return text


def _panel_lines(
    panel: Panel, draw: ImageDraw.ImageDraw
) -> list[tuple[str, tuple[int, int, int], Row | None]]:
    font = _font(FONT)
    width = PANEL_WIDTH - 2 * MARGIN
    lines: list[tuple[str, tuple[int, int, int], Row | None]] = []
    lines += [(t, DIM, None) for t in _wrap(panel.model, width, draw, font)]
    for text in panel.summary:
        lines += [(t, INK, None) for t in _wrap(text, width, draw, font)]
    if panel.rows:
        lines.append(("", INK, None))
        lines.append(("", HEAD, panel.header))
        lines += [("", INK, row) for row in panel.rows]
    if panel.notes:
        lines.append(("", INK, None))
        for text in panel.notes:
            lines += [(t, DIM, None) for t in _wrap(text, width, draw, font)]
    return lines


def _draw_row(draw: ImageDraw.ImageDraw, x: int, y: int, row: Row, colour: tuple[int, int, int]) -> None:
    """The first cell in a column of FIRST_COLUMN pixels, the others sharing the rest of the panel."""
    font = _font(FONT)
    rest = len(row.cells) - 1
    width = (PANEL_WIDTH - 2 * MARGIN - FIRST_COLUMN) // max(rest, 1)
    draw.text((x, y), _fit(row.cells[0], FIRST_COLUMN - 6, draw, font), fill=colour, font=font)
    for i, text in enumerate(row.cells[1:]):
        left = x + FIRST_COLUMN + i * width
        draw.text((left, y), _fit(text, width - 6, draw, font), fill=colour, font=font)


def page(pictures: Sequence[np.ndarray], panel: Panel, disclaimer: str, demo: str | None) -> np.ndarray:
    """The SC page (RGB uint8, at most MAX_WIDTH x MAX_HEIGHT)."""
    top = BANNER_HEIGHT if demo else 0
    area_height = MAX_HEIGHT - top - BANNER_HEIGHT
    picture = arrange(pictures, MAX_WIDTH - PANEL_WIDTH, area_height)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _panel_lines(panel, measure)
    capacity = (area_height - 2 * MARGIN - TITLE_FONT - 8) // LINE
    if len(lines) > capacity:
        hidden = len(lines) - capacity + 1
        lines = [*lines[: capacity - 1], (f"... {hidden} more lines: see the SR", HEAD, None)]
    text_height = 2 * MARGIN + TITLE_FONT + 8 + LINE * len(lines)
    height = top + max(picture.height, text_height) + BANNER_HEIGHT
    canvas = Image.new("RGB", (picture.width + PANEL_WIDTH, height), (0, 0, 0))
    canvas.paste(picture, (0, top))
    draw = ImageDraw.Draw(canvas)
    x = picture.width + MARGIN
    draw.text(
        (x, top + MARGIN),
        _fit(panel.title, PANEL_WIDTH - 2 * MARGIN, draw, _font(TITLE_FONT)),
        HEAD,
        _font(TITLE_FONT),
    )
    y = top + MARGIN + TITLE_FONT + 8
    for text, colour, row in lines:
        if row is not None:
            _draw_row(draw, x, y, row, colour)
        else:
            draw.text((x, y), text, fill=colour, font=_font(FONT))
        y += LINE
    banners(canvas, disclaimer, demo)
    return np.asarray(canvas, dtype=np.uint8)


def banners(canvas: Image.Image, disclaimer: str, demo: str | None) -> None:
    """Every SC page's banners: the red DEMO notice across the top (when given), the disclaimer below."""
    draw = ImageDraw.Draw(canvas)
    height = canvas.height
    if demo:
        draw.rectangle([0, 0, canvas.width, BANNER_HEIGHT - 1], fill=DEMO_RED)
        draw.text(
            (MARGIN, 5),
            _fit(demo, canvas.width - 2 * MARGIN, draw, _font(FONT + 1)),
            (255, 255, 255),
            _font(FONT + 1),
        )
    draw.rectangle([0, height - BANNER_HEIGHT, canvas.width, height], fill=(40, 40, 40))
    draw.text(
        (MARGIN, height - BANNER_HEIGHT + 5),
        _fit(disclaimer, canvas.width - 2 * MARGIN, draw, _font(FONT)),
        HEAD,
        _font(FONT),
    )
