"""Pictures of a result: a source plane with the mask fill + outline and the heat-map blend.

The key frame is the one with the most labelled pixels (or the hottest heat map, else the middle
frame). Grey values are windowed from the 1st-99th percentile (of the frame, or of the whole volume
for :class:`Planes`, so the three orthogonal views share one window). No text is drawn here (see
:mod:`~inference.dicom_out.layout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.dicom_out.common import PALETTE_RGB
from inference.pipeline import Result, Segment, Series

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


def overlay_plane(
    grey: np.ndarray, labels: np.ndarray | None, heat: np.ndarray | None, segments: Sequence[Segment]
) -> np.ndarray:
    """RGB uint8 of one plane: ``grey`` (uint8) with the heat-map blend and mask fill + outline.

    Works on (3, rows, cols) float32 planes and only inside the bounding boxes of the heat map and of
    each mask (outside them the grey plane is left as it is: a zero heat value blends nothing in).
    """
    planes = np.repeat(np.asarray(grey, np.float32)[None], 3, axis=0)
    if heat is not None:
        heat = np.clip(np.asarray(heat, np.float32), 0, 1)
        box = _box(heat > 0)
        if box is not None:
            alpha = 0.45 * heat[box]
            region = planes[:, box[0], box[1]]
            region *= 1 - alpha
            region += _heat_rgb(heat[box]) * alpha
    if labels is not None:
        for number, segment in enumerate(segments):
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


def overlay(series: Series, result: Result, index: int) -> np.ndarray:
    """RGB uint8: frame ``index`` with its overlays, decimated to at most MAX_SIDE pixels."""
    frame = np.asarray(series.pixels[index])
    step = max(1, -(-max(frame.shape[:2]) // MAX_SIDE))
    heat = np.asarray(result.heat_maps[0].values[index])[::step, ::step] if result.heat_maps else None
    labels = None
    segments: Sequence[Segment] = ()
    if result.label_map is not None:
        labels = np.asarray(result.label_map.labels[index])[::step, ::step]
        segments = result.label_map.segments
    return overlay_plane(_grey(frame[::step, ::step]), labels, heat, segments)


@dataclass(frozen=True)
class Planes:
    """A volume's grey values (one window for all planes), labels and heat map, cut along any axis."""

    pixels: np.ndarray
    window: tuple[float, float]
    labels: np.ndarray | None
    heat: np.ndarray | None
    segments: Sequence[Segment]

    @classmethod
    def of(cls, series: Series, result: Result) -> Planes:
        sample = np.asarray(series.pixels)[:, ::4, ::4]
        low, high = (float(v) for v in np.percentile(sample, [1, 99]))
        label_map = result.label_map
        return cls(
            pixels=np.asarray(series.pixels),
            window=(low, high if high > low else low + 1.0),
            labels=np.asarray(label_map.labels) if label_map is not None else None,
            heat=np.asarray(result.heat_maps[0].values) if result.heat_maps else None,
            segments=label_map.segments if label_map is not None else (),
        )

    def rgb(self, frame: int | None, row: int | None, col: int | None) -> np.ndarray:
        """The plane at the one index given (the others None), with its overlays."""
        cut = (
            frame if frame is not None else slice(None),
            row if row is not None else slice(None),
            col if col is not None else slice(None),
        )
        low, high = self.window
        grey = np.clip((self.pixels[cut].astype(np.float32) - low) * (255.0 / (high - low)), 0, 255)
        labels = self.labels[cut] if self.labels is not None else None
        heat = self.heat[cut] if self.heat is not None else None
        return overlay_plane(grey.astype(np.uint8), labels, heat, self.segments)
