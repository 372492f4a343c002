"""A horizontal bar chart of probabilities, drawn with Pillow, for a Secondary Capture key image.

One bar per item (label, probability in [0, 1]); the optional summary bar (e.g. an ensemble) is drawn
last, below a rule, in its own colour. Bars at or above the threshold are orange, the others blue; a
dashed line marks the threshold and the axis is labelled 0 to 1. The title and footer lines carry the
wording the pipeline needs (research finding, disclaimer). Text is ASCII, as on the rest of the SC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.dicom_out.render import FONT_SIZE, LINE_HEIGHT

WIDTH = 720
LABEL_WIDTH = 280
VALUE_WIDTH = 56
MARGIN = 12
BAR_PITCH = 22
BAR_HEIGHT = 14
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
GRID = (200, 200, 200)
BELOW_COLOUR = (0, 114, 178)  # blue: under the threshold
ABOVE_COLOUR = (230, 159, 0)  # orange: at or above the threshold
SUMMARY_COLOUR = (120, 40, 140)  # purple: the summary (ensemble) bar
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Bar:
    label: str
    probability: float


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def fit_text(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float
) -> str:
    """``text`` shortened with '..' until it fits ``width`` pixels."""
    text = _ascii(text)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".."


def bar_chart(
    bars: Sequence[Bar],
    title: Sequence[str],
    summary: Bar | None = None,
    footer: Sequence[str] = (),
    threshold: float = 0.5,
) -> np.ndarray:
    """RGB uint8 picture of ``bars`` (and ``summary``) with ``title`` lines above, ``footer`` below."""
    font = ImageFont.load_default(size=FONT_SIZE)
    rows = [*bars, *([summary] if summary is not None else [])]
    top = MARGIN + LINE_HEIGHT * len(title) + 6
    plot_bottom = top + BAR_PITCH * len(rows) + (8 if summary is not None else 0)
    height = plot_bottom + 8 + LINE_HEIGHT + MARGIN + LINE_HEIGHT * len(footer)
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(title):
        y = MARGIN + i * LINE_HEIGHT
        draw.text((MARGIN, y), fit_text(draw, line, font, WIDTH - 2 * MARGIN), INK, font)
    x0 = MARGIN + LABEL_WIDTH
    span = WIDTH - x0 - VALUE_WIDTH - MARGIN

    def x_of(p: float) -> int:
        return x0 + round(float(np.clip(p, 0.0, 1.0)) * span)

    for tick in TICKS:  # grid and axis labels
        x = x_of(tick)
        draw.line([(x, top - 2), (x, plot_bottom)], fill=GRID)
        label = f"{tick:g}"
        draw.text((x - draw.textlength(label, font=font) / 2, plot_bottom + 6), label, INK, font)
    x = x_of(threshold)  # dashed threshold line
    for y in range(top - 2, plot_bottom, 6):
        draw.line([(x, y), (x, min(y + 3, plot_bottom))], fill=INK)
    for i, bar in enumerate(rows):
        is_summary = summary is not None and i == len(rows) - 1
        y = top + i * BAR_PITCH + (8 if is_summary else 0)
        if is_summary:
            draw.line([(MARGIN, y - 5), (WIDTH - MARGIN, y - 5)], fill=INK)
        colour = (
            SUMMARY_COLOUR if is_summary else ABOVE_COLOUR if bar.probability >= threshold else BELOW_COLOUR
        )
        if bar.probability > 0:
            draw.rectangle([x0, y, x_of(bar.probability) - 1, y + BAR_HEIGHT - 1], fill=colour)
        draw.text((MARGIN, y - 1), fit_text(draw, bar.label, font, LABEL_WIDTH - 8), INK, font)
        draw.text((WIDTH - MARGIN - VALUE_WIDTH + 6, y - 1), f"{bar.probability:.2f}", INK, font)
    for i, line in enumerate(footer):
        y = plot_bottom + 8 + LINE_HEIGHT + i * LINE_HEIGHT
        draw.text((MARGIN, y), fit_text(draw, line, font, WIDTH - 2 * MARGIN), INK, font)
    return np.asarray(image, dtype=np.uint8)
