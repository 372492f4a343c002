"""The built-in ``qc`` pipeline: model-free, runs on any image series in well under a second.

It checks a route end to end. An Otsu threshold on the modality values, holes filled per frame and
the largest connected component kept, gives a "body" mask; its volume (3D) or area (one image) is
measured. Outputs: SEG (one segment, SCT Entire body), SR (the measurement) and SC (key image).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydicom.sr.coding import Code
from scipy import ndimage

from inference.pipeline import AlgorithmInfo, LabelMap, Measurement, Pipeline, Result, Segment, Series
from inference.pipeline_params import NoParams

ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
ENTIRE_BODY = Code("38266002", "SCT", "Entire body")
VOLUME = Code("118565006", "SCT", "Volume")
AREA = Code("42798000", "SCT", "Area")
CUBIC_CM = Code("cm3", "UCUM", "cubic centimeter")
SQUARE_CM = Code("cm2", "UCUM", "square centimeter")
PIXELS = Code("{pixels}", "UCUM", "pixels")
BODY_LABEL = 1


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of the histogram."""
    flat = values[np.isfinite(values)].ravel()
    low, high = float(flat.min()), float(flat.max())
    if high <= low:
        return high
    counts, edges = np.histogram(flat, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(float)
    total = weight[-1]
    mean = np.cumsum(counts * centres)
    background, foreground = weight[:-1], total - weight[:-1]
    valid = (background > 0) & (foreground > 0)
    between = np.zeros_like(background)
    mu_b = mean[:-1][valid] / background[valid]
    mu_f = (mean[-1] - mean[:-1][valid]) / foreground[valid]
    between[valid] = background[valid] * foreground[valid] * (mu_b - mu_f) ** 2
    return float(edges[1:][int(np.argmax(between))])


def body_mask(pixels: np.ndarray) -> np.ndarray:
    """Boolean mask [frame, row, col] of the largest bright connected region, holes filled."""
    mask = pixels > otsu_threshold(pixels)
    mask = np.stack([ndimage.binary_fill_holes(frame) for frame in mask])
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    return np.asarray(labels == int(np.argmax(sizes)) + 1)


class QcPipeline(Pipeline):
    """Threshold "body" mask and its size; needs no weights."""

    name = "qc"
    accepts = "any image series (CT, MR, CR/DX, ...): a model-free check of the route"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})
        NoParams.of(self.settings, self.name)

    @property
    def algorithm(self) -> AlgorithmInfo:
        return AlgorithmInfo(name="dicom-node qc", version="1.0", parameters={"threshold": "otsu"})

    def _size(self, series: Series, count: int) -> Measurement:
        spacing = series.spacing_mm
        if spacing is None:
            return Measurement(AREA, float(count), PIXELS, region=BODY_LABEL)
        pixel_mm2 = spacing[1] * spacing[2]
        if series.is_2d or spacing[0] <= 0:
            return Measurement(AREA, round(count * pixel_mm2 / 100.0, 3), SQUARE_CM, region=BODY_LABEL)
        return Measurement(
            VOLUME, round(count * pixel_mm2 * spacing[0] / 1000.0, 3), CUBIC_CM, region=BODY_LABEL
        )

    def run(self, series: Series) -> Result:
        mask = body_mask(series.pixels)
        count = int(mask.sum())
        size = self._size(series, count)
        summary = [f"Body mask: {count} pixels in {int(mask.any(axis=(1, 2)).sum())} frame(s)"]
        if count == 0:
            return Result(summary=["Body mask: empty (uniform image)"], parameters={"threshold": "otsu"})
        segment = Segment(label=BODY_LABEL, name="Body", category=ANATOMICAL_STRUCTURE, type=ENTIRE_BODY)
        return Result(
            label_map=LabelMap(labels=mask.astype(np.uint8) * BODY_LABEL, segments=[segment]),
            measurements=[size],
            summary=summary,
            parameters={"threshold": "otsu"},
        )


def build(settings: Mapping[str, Any]) -> QcPipeline:
    return QcPipeline(settings)
