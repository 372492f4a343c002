"""fmri pipeline units: ROI spheres through a known affine, temporal resampling, bootstrap test, SC chart."""

from __future__ import annotations

import numpy as np
import pytest

from inference.dicom_out.chart import ABOVE_COLOUR, BELOW_COLOUR, SUMMARY_COLOUR
from inference.pipelines.fmri import atlas
from inference.pipelines.fmri.bootstrap import bootstrap_p, is_significant
from inference.pipelines.fmri.ensemble import ensemble_probability
from inference.pipelines.fmri.features import extract, mni_to_voxel, sphere_labels
from inference.pipelines.fmri.motion import framewise_displacement
from inference.pipelines.fmri.report import Analysis, build_result
from inference.pipelines.fmri.temporal import Timing, is_too_short, resample


def test_power_table_and_sphere_sampling() -> None:
    rois = atlas.power_rois()
    assert len(rois) == 264
    assert atlas.roi(1).mni_ras == (-25.0, -98.0, -12.0)
    assert atlas.roi(1).hemisphere == "L" and atlas.roi(2).hemisphere == "R"
    offsets = atlas.sphere_offsets_mm()
    assert offsets.shape == (33, 3)
    assert np.all(np.linalg.norm(offsets, axis=1) <= atlas.RADIUS_MM)
    assert np.allclose(offsets[0], 0)


def test_sphere_lands_at_the_known_voxel_through_a_known_affine() -> None:
    # 2 mm LPS grid whose voxel (30, 40, 20) sits at LPS (10, -20, 6) mm; the subject equals MNI.
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [10 - 60.0, -20 - 80.0, 6 - 40.0]
    number = 86
    x, y, z = atlas.roi(number).mni_ras
    shift = np.eye(4)
    shift[:3, 3] = [10 - (-x), -20 - (-y), 6 - z]  # MNI LPS point of the ROI -> subject (10, -20, 6)
    labels = sphere_labels((64, 64, 40), affine, shift, [number])
    voxels = np.argwhere(labels == number)
    assert len(voxels) > 0
    assert np.allclose(voxels.mean(axis=0), [30, 40, 20], atol=0.01)
    assert np.max(np.linalg.norm((voxels - [30, 40, 20]) * 2.0, axis=1)) <= atlas.RADIUS_MM
    # the matrices read the same place: a bright blob there is seen by that ROI only
    run = np.zeros((64, 64, 40, 3), dtype=np.float32)
    run[29:32, 39:42, 19:22, :] = np.array([1.0, 5.0, 2.0])
    matrices = extract(run, mni_to_voxel(shift, affine), [number, 1])
    assert matrices.coverage[0] == 1.0
    centre = matrices.matrices[0, :, 0]
    assert np.argmax(centre) == 1 and np.allclose(matrices.matrices[1], 0)


def test_temporal_resampling() -> None:
    timing = Timing(length=10, tr_s=2.0)
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # TR 1 s, 20 volumes
    out = resample(ramp, 1.0, timing)
    assert out.shape == (10, 3)
    assert np.allclose(out[:, 0], np.arange(0, 20, 2))  # resampled to TR 2 s, first 10 samples
    short = resample(ramp[:4], 2.0, timing)  # 4 volumes: stretched over the trained length
    assert short.shape == (10, 3) and np.isclose(short[0, 0], 0) and np.isclose(short[-1, 0], 3)
    assert is_too_short(4, 2.0, timing) and not is_too_short(40, 2.0, Timing(30, 2.0))


def test_bootstrap_significant_for_effect_not_for_null() -> None:
    rng = np.random.default_rng(3)
    effect = rng.random(24) < 0.85
    null = np.array([True, False] * 12)
    assert is_significant(bootstrap_p(effect, 2000))
    assert not is_significant(bootstrap_p(null, 2000))
    assert bootstrap_p(null, 2000) > 0.3


def test_ensemble_weights_and_framewise_displacement() -> None:
    assert ensemble_probability({1: 1.0, 2: 0.0}, {1: 0.9, 2: 0.3}) == 0.75
    assert ensemble_probability({}, {}) is None
    params = np.array([[0, 0, 0, 0, 0, 0], [0.01, 0, 0, 1.0, 0, 0]], float)
    assert np.allclose(framewise_displacement(params), [0, 1.0 + 0.5])


def _analysis(probabilities: dict[int, float], overall: float | None, too_short: bool) -> Analysis:
    return Analysis(
        labels=None,
        probabilities=probabilities,
        outside=[],
        overall=overall,
        too_short=too_short,
        normalised=True,
        n_volumes=115,
        mean_fd=0.1,
        max_fd=0.3,
        class_names=("control", "patient"),
        demonstration=False,
    )


def test_sc_chart_draws_one_bar_per_roi_with_length_proportional_to_probability() -> None:
    result = build_result(_analysis({12: 0.25, 86: 1.0, 27: 0.75}, overall=0.6, too_short=False), {})
    chart = result.key_image
    assert chart is not None and chart.ndim == 3 and chart.shape[2] == 3 and chart.dtype == np.uint8

    def pixels(colour: tuple[int, int, int]) -> int:
        return int(np.all(chart == colour, axis=-1).sum())

    full = pixels(ABOVE_COLOUR) - pixels(BELOW_COLOUR) / 0.25 * 0.75  # the 1.0 bar alone
    assert pixels(BELOW_COLOUR) / full == pytest.approx(0.25, abs=0.01)  # ROI 12, under 0.5: blue
    assert pixels(SUMMARY_COLOUR) / full == pytest.approx(0.6, abs=0.01)  # the ensemble bar
    assert "ROI" not in " ".join(result.summary)  # per-ROI values live in the chart and the findings


def test_sc_chart_absent_when_no_roi_was_covered() -> None:
    assert build_result(_analysis({}, overall=None, too_short=True), {}).key_image is None
