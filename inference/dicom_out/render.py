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
    return (np.clip((frame - low) / (high - low), 0, 1) * 255).astype(np.uint8)


def _heat_rgb(values: np.ndarray) -> np.ndarray:
    """A blue-green-red ramp for values in [0, 1]."""
    v = np.clip(values, 0, 1)[..., None].astype(np.float32)
    blue = np.array([0, 0, 255], np.float32)
    green = np.array([0, 255, 0], np.float32)
    red = np.array([255, 0, 0], np.float32)
    low = blue + (green - blue) * np.clip(v * 2, 0, 1)
    return np.where(v < 0.5, low, green + (red - green) * np.clip(v * 2 - 1, 0, 1))


def overlay(series: Series, result: Result, index: int) -> np.ndarray:
    """RGB uint8: the grey frame with mask fill + outline or heat-map blend, at most MAX_SIDE pixels."""
    frame = np.asarray(series.pixels[index])
    step = max(1, -(-max(frame.shape[:2]) // MAX_SIDE))
    grey = _grey(frame[::step, ::step]).astype(np.float32)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if result.heat_maps:
        heat = np.clip(np.asarray(result.heat_maps[0].values[index], np.float32)[::step, ::step], 0, 1)
        alpha = 0.45 * heat[..., None]
        rgb = rgb * (1 - alpha) + _heat_rgb(heat) * alpha
    if result.label_map is not None:
        labels = np.asarray(result.label_map.labels[index])[::step, ::step]
        for number, segment in enumerate(result.label_map.segments):
            mask = labels == segment.label
            if not mask.any():
                continue
            colour = np.array(PALETTE_RGB[number % len(PALETTE_RGB)], np.float32)
            rgb[mask] = rgb[mask] * 0.7 + colour * 0.3
            edge = mask & ~ndimage.binary_erosion(mask)
            rgb[edge] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)


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
