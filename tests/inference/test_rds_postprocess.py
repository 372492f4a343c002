"""rds post-processing: median filter, rotation fallback, spine band removal (no network needed)."""

from __future__ import annotations

import numpy as np

from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG, make_case
from inference.pipelines.rds.postprocess import (
    apex_up,
    classifier_input,
    lung_area,
    median_filter_labels,
    min_lung_area,
    plausibility,
    segment_with_fallback,
    side_by_side,
    spine_band,
)


def _two_lungs(size: int = 64) -> np.ndarray:
    labels = np.zeros((size, size), np.uint8)
    labels[10:50, 8:26] = RIGHT_LUNG
    labels[12:48, 38:56] = LEFT_LUNG
    return labels


def test_threshold_scales_with_the_working_area() -> None:
    assert min_lung_area(512) == 10_000
    assert min_lung_area(128) == 625
    assert min_lung_area(256) == 2500


def test_median_filter_fills_holes_and_removes_specks() -> None:
    labels = _two_lungs()
    noisy = labels.copy()
    noisy[30, 15] = 0  # a hole in the right lung
    noisy[2, 2] = LEFT_LUNG  # a speck in the background
    filtered = median_filter_labels(noisy, 3)
    assert filtered[30, 15] == RIGHT_LUNG
    assert filtered[2, 2] == 0
    assert median_filter_labels(noisy, 1)[2, 2] == LEFT_LUNG  # kernel 1: unchanged


def test_plausibility_prefers_upright_lungs_on_the_right_sides() -> None:
    upright = _two_lungs()
    swapped = np.where(upright == RIGHT_LUNG, LEFT_LUNG, np.where(upright == LEFT_LUNG, RIGHT_LUNG, 0))
    assert plausibility(upright) > plausibility(swapped.astype(np.uint8))
    assert plausibility(np.where(upright == LEFT_LUNG, 0, upright)) < plausibility(upright)


def test_rotation_fallback_triggers_on_a_rotated_phantom_and_picks_the_upright_mask() -> None:
    rng = np.random.default_rng(3)
    upright = make_case(rng, 96, rds=True)
    turned_image = np.ascontiguousarray(np.rot90(upright.image, 1))
    turned_truth = np.ascontiguousarray(np.rot90(upright.labels, 1))
    calls: list[int] = []

    def predict(image: np.ndarray) -> np.ndarray:
        """A model that only finds lungs on upright images (the paper's failure mode)."""
        for k in range(4):
            if np.array_equal(np.rot90(image, k), upright.image):
                calls.append(k)
                found = upright.labels if k == 0 else np.zeros_like(upright.labels)
                if k != 0:
                    found[:4, :4] = RIGHT_LUNG  # a speck, well under the threshold
                return np.ascontiguousarray(np.rot90(found, -k))
        raise AssertionError("unexpected image")

    outcome = segment_with_fallback(predict, turned_image, kernel=3, min_area=200)
    assert lung_area(outcome.median) < 200  # the first prediction failed ...
    assert len(calls) == 3  # ... so the two quarter turns were tried (never 180 degrees)
    assert outcome.quarter_turns == 3  # turning back by 270 deg makes it upright
    assert outcome.rotation_degrees == 270
    agreement = np.mean((outcome.labels > 0) == (turned_truth > 0))
    assert agreement > 0.97  # the kept mask is the upright one, turned back onto the source
    assert np.array_equal(outcome.upright, median_filter_labels(upright.labels, 3))


def test_no_fallback_when_the_lungs_are_large_enough() -> None:
    labels = _two_lungs()
    calls: list[np.ndarray] = []

    def predict(image: np.ndarray) -> np.ndarray:
        calls.append(image)
        return labels

    outcome = segment_with_fallback(predict, np.zeros((64, 64), np.float32), kernel=3, min_area=100)
    assert len(calls) == 1 and outcome.quarter_turns == 0
    disabled = segment_with_fallback(predict, np.zeros((64, 64), np.float32), 3, min_area=10**6, rotate=False)
    assert disabled.quarter_turns == 0 and len(calls) == 2


def test_spine_band_lies_between_the_lungs_and_is_removed_from_the_classifier_input() -> None:
    labels = _two_lungs()
    labels[25:30, 26:38] = RIGHT_LUNG  # segmentation leaking over the mediastinum
    band = spine_band(labels, band_fraction=0.15)
    columns = np.nonzero(band[0])[0]
    assert columns.min() > 26 and columns.max() < 38  # between the lungs' inner edges
    assert np.asarray(band.all(axis=0))[columns].all()  # full height
    image = np.ones(labels.shape, np.float32)
    masked = classifier_input(image, labels, band_fraction=0.15)
    assert not masked[band].any()
    assert masked[30, 15] == 1.0 and masked[30, 45] == 1.0  # lung fields kept
    assert masked[2, 2] == 0.0  # background removed
    assert not spine_band(labels, 0.0).any()


def test_layout_trigger_repredicts_a_turned_image_whose_lungs_were_found_turned() -> None:
    upright = make_case(np.random.default_rng(4), 96, rds=False)
    turned = np.ascontiguousarray(np.rot90(upright.image, 1))

    def predict(image: np.ndarray) -> np.ndarray:
        """A model that finds the lungs wherever they are, labelled by image side."""
        for k in range(4):
            if np.array_equal(np.rot90(image, k), upright.image):
                found = np.rot90(upright.labels > 0, -k)
                labels = np.where(found, RIGHT_LUNG, 0).astype(np.uint8)
                labels[:, labels.shape[1] // 2 :][found[:, labels.shape[1] // 2 :]] = LEFT_LUNG
                return labels
        raise AssertionError("unexpected image")

    paper = segment_with_fallback(predict, turned, kernel=3, min_area=50, trigger="area")
    assert paper.quarter_turns == 0  # large enough: the paper's rule keeps it
    assert not side_by_side(paper.median)  # ... although the lungs lie one above the other
    ours = segment_with_fallback(predict, turned, kernel=3, min_area=50, trigger="layout")
    assert ours.quarter_turns == 3 and apex_up(ours.upright) and side_by_side(ours.upright)


def test_the_fallback_never_turns_a_film_upside_down() -> None:
    """A UNet trained on upright films finds upright-looking lungs on an upside-down film (sides
    swapped): the 180 degree turn is never tried, so an upright film whose lungs look odd stays."""
    case = make_case(np.random.default_rng(5), 96, rds=False)
    tried: list[int] = []

    def predict(image: np.ndarray) -> np.ndarray:
        tried.append(next(k for k in range(4) if np.array_equal(np.rot90(case.image, k), image)))
        return np.ascontiguousarray(np.rot90(case.labels, 2)) if tried[-1] == 0 else case.labels * 0

    outcome = segment_with_fallback(predict, case.image, kernel=3, min_area=50, trigger="layout")
    assert sorted(tried) == [0, 1, 3] and outcome.quarter_turns == 0
