"""Render the key image of a result: one source frame, mask or heat-map overlay, a text panel below.

The key frame is the one with the most labelled pixels (or the hottest heat map, else the middle
frame). Grey values are windowed from the frame's 1st-99th percentile. Text is ASCII so the image
reads the same on every viewer, wrapped at spaces to the image width; no patient identity is drawn
into the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from inference.dicom_out.common import PALETTE_RGB
from inference.pipeline import Result, Series

MIN_WIDTH = 512
MAX_SIDE = 1024  # a key image larger than this is decimated first (a summary, not a diagnostic image)
LINE_HEIGHT = 20
FONT_SIZE = 15


def key_frame(series: Series, result: Result) -> int:
    """Index of the frame to show."""
    if result.label_map is not None and np.any(result.label_map.labels):
        areas = (np.asarray(result.label_map.labels) > 0).reshape(len(series.frames), -1).sum(axis=1)
        return int(np.argmax(areas))
    if result.heat_maps:
        peaks = np.asarray(result.heat_maps[0].values).reshape(len(series.frames), -1).max(axis=1)
        return int(np.argmax(peaks))
    return len(series.frames) // 2


def _grey(frame: np.ndarray) -> np.ndarray:
    low, high = np.percentile(frame, [1, 99])
    if high <= low:
        high = low + 1.0
    scaled = np.subtract(frame, np.float32(low), dtype=np.float32)  # float32 in place: no float64 copies
    np.multiply(scaled, np.float32(255.0 / (high - low)), out=scaled)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def _heat_rgb(values: np.ndarray) -> np.ndarray:
    """A blue-green-red ramp for values in [0, 1], as (3, ...) red, green, blue planes (float32).

    Blue at 0, green at 0.5, red at 1, linear in between: with ``a = clip(2v)`` and
    ``b = clip(2v - 1)``, red is ``255 b``, green ``255 (a - b)``, blue ``255 (1 - a)``.
    """
    v = np.clip(np.asarray(values, np.float32), 0, 1)
    a = np.minimum(v * 2, 1)
    b = np.maximum(v * 2 - 1, 0)
    return np.stack([255 * b, 255 * (a - b), 255 * (1 - a)])


def _box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """The bounding box of ``mask`` grown by ``margin`` pixels (clipped to the image); None if empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (
        slice(max(0, int(rows[0]) - margin), int(rows[-1]) + 1 + margin),
        slice(max(0, int(cols[0]) - margin), int(cols[-1]) + 1 + margin),
    )


def overlay(series: Series, result: Result, index: int) -> np.ndarray:
    """RGB uint8: the grey frame with mask fill + outline or heat-map blend, at most MAX_SIDE pixels.

    Works on (3, rows, cols) float32 planes and only inside the bounding boxes of the heat map and of
    each mask (outside them the grey frame is left as it is: a zero heat value blends nothing in).
    """
    frame = np.asarray(series.pixels[index])
    step = max(1, -(-max(frame.shape[:2]) // MAX_SIDE))
    grey = _grey(frame[::step, ::step]).astype(np.float32)
    planes = np.repeat(grey[None], 3, axis=0)
    if result.heat_maps:
        heat = np.clip(np.asarray(result.heat_maps[0].values[index], np.float32)[::step, ::step], 0, 1)
        box = _box(heat > 0)
        if box is not None:
            alpha = 0.45 * heat[box]
            region = planes[:, box[0], box[1]]
            region *= 1 - alpha
            region += _heat_rgb(heat[box]) * alpha
    if result.label_map is not None:
        labels = np.asarray(result.label_map.labels[index])[::step, ::step]
        for number, segment in enumerate(result.label_map.segments):
            # one pixel of margin: the box's own edge lies outside the mask, so the erosion inside the
            # box equals the erosion of the whole image
            box = _box(labels == segment.label, margin=1)
            if box is None:
                continue
            mask = labels[box] == segment.label
            edge = mask & ~ndimage.binary_erosion(mask)
            colour = PALETTE_RGB[number % len(PALETTE_RGB)]
            for plane, value in zip(planes[:, box[0], box[1]], colour, strict=True):
                plane[mask] = plane[mask] * np.float32(0.7) + np.float32(value * 0.3)
                plane[edge] = value
    np.clip(planes, 0, 255, out=planes)
    return np.ascontiguousarray(np.moveaxis(planes.astype(np.uint8), 0, -1))


def compose(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Scale ``image`` to at least MIN_WIDTH wide and add a black text panel with ``lines`` below."""
    picture = Image.fromarray(image, mode="RGB")
    if picture.width < MIN_WIDTH:
        factor = MIN_WIDTH / picture.width
        picture = picture.resize(
            (MIN_WIDTH, max(1, round(picture.height * factor))), Image.Resampling.NEAREST
        )
    font = ImageFont.load_default(size=FONT_SIZE)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows = [
        row
        for line in lines
        for row in wrap(line.encode("ascii", "replace").decode("ascii"), picture.width - 12, measure, font)
    ]
    panel_height = LINE_HEIGHT * len(rows) + 10
    canvas = Image.new("RGB", (picture.width, picture.height + panel_height), (0, 0, 0))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(rows):
        draw.text((6, picture.height + 5 + i * LINE_HEIGHT), text, fill=(255, 255, 0), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def wrap(
    text: str, width: int, draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> list[str]:
    """``text`` broken at spaces into rows of at most ``width`` pixels (continuation rows indented)."""
    rows: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and draw.textlength(candidate, font=font) > width:
            rows.append(current)
            current = "   " + word
        else:
            current = candidate
    rows.append(current)
    return rows
