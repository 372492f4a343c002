"""Post-processing of the lung label map, as the paper found best, and the spine band removal.

Label maps hold 0 (background), 1 (right lung) and 2 (left lung) at the working resolution.

1. Median filter on each lung's mask (kernel configurable, default 5): fills the holes of the raw
   prediction and removes specks.
2. Rotation fallback: when the lungs cover fewer pixels than the paper's 10,000 px, the image is
   predicted again turned by 90 and 270 degrees and the most plausible mask is kept, turned
   back (option: also when the lungs do not lie side by side with their apices up). The paper's threshold
   belongs to its working resolution (512 x 512 assumed: 10,000 px is
   3.8 % of the image); here it is scaled by area, ``10,000 * (working / 512) ** 2`` (625 px at 128).
3. Spine band: a vertical band between the two lungs (spine, mediastinum, midline tubes) is cut out
   of the classifier's input, so the classifier looks at the lung fields, not at the devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG

PAPER_MIN_AREA_PX = 10_000
PAPER_RESOLUTION = 512
LUNGS = (RIGHT_LUNG, LEFT_LUNG)
TRIGGERS = ("area", "layout")
QUARTER_TURNS = (1, 3)  # np.rot90's k tried by the rotation fallback (not 2: see segment_with_fallback)


def min_lung_area(working_size: int, reference_area: int = PAPER_MIN_AREA_PX) -> int:
    """The paper's area threshold scaled from 512 x 512 to ``working_size`` x ``working_size``."""
    return max(1, round(reference_area * (working_size / PAPER_RESOLUTION) ** 2))


def median_filter_labels(labels: np.ndarray, kernel: int) -> np.ndarray:
    """Median filter each lung's binary mask with a ``kernel`` x ``kernel`` window (1 = no filter)."""
    if kernel <= 1:
        return labels.copy()
    out = np.zeros_like(labels)
    for lung in LUNGS:
        filtered = ndimage.median_filter((labels == lung).astype(np.uint8), size=kernel, mode="constant")
        out[(filtered > 0) & (out == 0)] = lung
    return out


def lung_area(labels: np.ndarray) -> int:
    return int(np.count_nonzero(np.isin(labels, LUNGS)))


def largest_region(mask: np.ndarray) -> np.ndarray:
    components, count = ndimage.label(mask)
    if count <= 1:
        return np.asarray(mask, dtype=bool)
    sizes = ndimage.sum_labels(mask, components, index=np.arange(1, count + 1))
    return np.asarray(components == int(np.argmax(sizes)) + 1)


def side_by_side(labels: np.ndarray) -> bool:
    """Whether both lungs are present, the right lung (label 1, image left in radiological display)
    left of the left lung, and their row ranges overlap by at least half of the shorter one (each lung
    judged by its largest connected region, so that a stray speck does not decide)."""
    right, left = largest_region(labels == RIGHT_LUNG), largest_region(labels == LEFT_LUNG)
    if not right.any() or not left.any():
        return False
    columns = np.arange(labels.shape[1])
    right_col = float((right.sum(axis=0) * columns).sum() / right.sum())
    left_col = float((left.sum(axis=0) * columns).sum() / left.sum())
    right_rows, left_rows = np.nonzero(right.any(axis=1))[0], np.nonzero(left.any(axis=1))[0]
    overlap = min(right_rows[-1], left_rows[-1]) - max(right_rows[0], left_rows[0]) + 1
    shorter = min(right_rows[-1] - right_rows[0], left_rows[-1] - left_rows[0]) + 1
    return right_col < left_col and overlap >= 0.5 * shorter


def apex_up(labels: np.ndarray) -> bool:
    """Whether the lungs are wider at the bottom (bases on the diaphragm) than at the top (apices)."""
    rows = np.nonzero(np.isin(labels, LUNGS).any(axis=1))[0]
    if rows.size < 2:
        return False
    middle = (rows[0] + rows[-1] + 1) // 2
    lungs = np.isin(labels, LUNGS)
    return int(lungs[middle:].sum()) > int(lungs[:middle].sum())


def plausibility(labels: np.ndarray) -> float:
    """How lung-like an upright label map is: its lung area, quartered unless the lungs lie
    :func:`side_by_side`, halved unless the apices are up."""
    area = float(lung_area(labels))
    area *= 1.0 if side_by_side(labels) else 0.25
    return area if apex_up(labels) else area * 0.5


@dataclass(frozen=True)
class Segmentation:
    """Outcome of segmentation with post-processing.

    ``raw`` (no post-processing) and ``median`` belong to the image as given; ``labels`` is the final
    map in the image's frame; ``quarter_turns`` is the turn (np.rot90's k) under which it was
    predicted (0 = none), ``upright`` the final map in that turned frame.
    """

    raw: np.ndarray
    median: np.ndarray
    labels: np.ndarray
    quarter_turns: int
    upright: np.ndarray

    @property
    def rotation_degrees(self) -> int:
        return 90 * self.quarter_turns


def segment_with_fallback(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    kernel: int,
    min_area: int,
    rotate: bool = True,
    trigger: str = "area",
    margin: float = 1.5,
) -> Segmentation:
    """Predict ``image`` (2D), median filter, and re-predict turned images when the lungs are too small.

    ``predict`` maps a 2D image to a label map of the same shape. The turned candidates are compared
    by :func:`plausibility` in their own (upright) frame; a turned candidate replaces the image as given
    only when its score is more than ``margin`` times the original's (so an upright film whose lungs
    are merely small is never made worse by a turn). ``trigger`` "area"
    re-predicts only under ``min_area`` (the paper); "layout" also when the lungs are not
    :func:`side_by_side` (ours: a model may find lung-sized regions on a turned image, one above the
    other; :func:`apex_up` alone does not trigger: on the real test films it failed on upright films,
    whose turned predictions then swapped the sides). A turned candidate must itself be side by side
    with its apices up. Only the quarter turns (90 and 270 degrees) are tried: on a film turned
    upside down, a UNet trained on upright films finds
    upright-looking lungs with right and left swapped, as plausible as the true ones, so a 180 degree
    turn would swap the sides of upright films whose lungs look odd; a film stored upside down is
    brought upright by its Patient Orientation instead (:mod:`~inference.pipelines.rds.orientation`).
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"rotation trigger {trigger!r}: expected one of {', '.join(TRIGGERS)}")
    raw = predict(image)
    median = median_filter_labels(raw, kernel)
    original = plausibility(median)
    best_k, best_upright, best_score = 0, median, original * margin
    retry = lung_area(median) < min_area or (trigger == "layout" and not side_by_side(median))
    if rotate and retry:
        for k in QUARTER_TURNS:
            upright = median_filter_labels(predict(np.ascontiguousarray(np.rot90(image, k))), kernel)
            if not (side_by_side(upright) and apex_up(upright)):
                continue  # a turn is taken only when it gives upright lungs side by side
            score = plausibility(upright)
            if score > best_score:
                best_k, best_upright, best_score = k, upright, score
    labels = np.ascontiguousarray(np.rot90(best_upright, -best_k))
    return Segmentation(raw=raw, median=median, labels=labels, quarter_turns=best_k, upright=best_upright)


def spine_band(labels: np.ndarray, band_fraction: float) -> np.ndarray:
    """Boolean mask of a full-height vertical band between the lungs of an upright label map.

    The band is centred between the two lungs (their centroids; the lungs' centre when one is
    missing) and is ``band_fraction`` of the image width wide.
    """
    band = np.zeros(labels.shape, dtype=bool)
    if band_fraction <= 0 or lung_area(labels) == 0:
        return band
    columns = np.arange(labels.shape[1])
    centres = []
    for lung in LUNGS:
        per_column = (labels == lung).sum(axis=0)
        if per_column.any():
            centres.append(float((per_column * columns).sum() / per_column.sum()))
    middle = float(np.mean(centres))
    half = band_fraction * labels.shape[1] / 2
    band[:, (columns >= middle - half) & (columns <= middle + half)] = True
    return band


def classifier_region(labels: np.ndarray, band_fraction: float, margin: int = 2) -> np.ndarray:
    """Where the classifier looks: the lungs (dilated by ``margin``) minus the spine band."""
    lungs = np.isin(labels, LUNGS)
    region = ndimage.binary_dilation(lungs, iterations=margin) if margin else lungs
    return np.asarray(region & ~spine_band(labels, band_fraction))


def classifier_input(
    image: np.ndarray, labels: np.ndarray, band_fraction: float, margin: int = 2
) -> np.ndarray:
    """The lung-masked image the classifier sees: lungs (dilated by ``margin``) minus the spine band."""
    return np.where(classifier_region(labels, band_fraction, margin), image, 0.0).astype(np.float32)
