"""fmri pipeline units: ROI spheres through a known affine, temporal resampling, bootstrap test, SC chart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inference.dicom_out.chart import ABOVE_COLOUR, BELOW_COLOUR, SUMMARY_COLOUR
from inference.pipelines.fmri import atlas
from inference.pipelines.fmri.bootstrap import bootstrap_p, is_significant
from inference.pipelines.fmri.ensemble import ensemble_probability
from inference.pipelines.fmri.features import extract, mni_to_voxel, sphere_labels
from inference.pipelines.fmri.motion import framewise_displacement
from inference.pipelines.fmri.report import (
    DEMONSTRATION_CAVEAT,
    NOT_ASSESSED,
    OVERALL,
    ROI_OUTPUT,
    Analysis,
    build_result,
)
from inference.pipelines.fmri.temporal import Timing, check, crop


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


def test_time_is_cropped_or_refused_never_resampled() -> None:
    timing = Timing(length=10, tr_s=2.0)
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    longer = check(20, 2.0, timing)
    assert longer.refused is None and longer.used == 10
    assert np.array_equal(crop(ramp, timing)[:, 0], np.arange(10))  # the first 10 samples, unchanged
    assert "1-10 of 20" in longer.describe(timing)
    shorter = check(4, 2.0, timing)
    assert shorter.used == 0 and shorter.refused and "never stretched" in shorter.refused
    other_tr = check(40, 1.0, timing)
    assert other_tr.refused and "TR (1 s)" in other_tr.refused
    assert check(10, 2.05, timing).refused is None  # within the 5 % tolerance
    assert "assumed" in check(12, None, timing).describe(timing)
    with pytest.raises(ValueError):
        crop(ramp[:4], timing)


def test_paper_rois_map_to_the_power_rois_of_the_named_anatomy() -> None:
    rows = {row.paper: row for row in atlas.PAPER_TABLE}
    assert len(rows) == 19 and list(atlas.PAPER_ROIS) == [row.power for row in atlas.PAPER_TABLE]
    # the thalami: paper 202 / 203 are Power 224 / 225, left / right, in deep grey matter
    for paper, power, side in ((202, 224, "L"), (203, 225, "R")):
        assert rows[paper].power == power and atlas.roi(power).hemisphere == side
        assert atlas.roi(power).region == "Deep grey matter"
    # every mapped ROI lies on the side the paper names, and offsets never decrease (order kept)
    for row in atlas.PAPER_TABLE:
        assert atlas.roi(row.power).hemisphere == row.side, row
    offsets = [row.power - row.paper for row in atlas.PAPER_TABLE]
    assert offsets == sorted(offsets) and offsets[-1] == 22
    assert atlas.roi(99).describe() == "Power 99 (-16, 29, 53) Frontal cortex L"
    assert "paper ROI 86: Superior Frontal Gyrus L" in atlas.roi(99).paper_label()
    assert atlas.roi(1).paper_label() == ""


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
        time_note="Not assessed: too short" if too_short else "Volumes used: 1-115 of 115",
        assessed=not too_short,
        normalised=True,
        n_volumes=115,
        used=115,
        mean_fd=0.1,
        max_fd=0.3,
        class_names=("control", "patient"),
        demonstration=False,
    )


def test_sc_chart_draws_one_bar_per_roi_with_length_proportional_to_probability() -> None:
    result = build_result(_analysis({20: 0.25, 99: 1.0, 36: 0.75}, overall=0.6, too_short=False), {})
    chart = result.key_image
    assert chart is not None and chart.ndim == 3 and chart.shape[2] == 3 and chart.dtype == np.uint8

    def pixels(colour: tuple[int, int, int]) -> int:
        return int(np.all(chart == colour, axis=-1).sum())

    full = pixels(ABOVE_COLOUR) - pixels(BELOW_COLOUR) / 0.25 * 0.75  # the 1.0 bar alone
    assert pixels(BELOW_COLOUR) / full == pytest.approx(0.25, abs=0.01)  # Power 20, under 0.5: blue
    assert pixels(SUMMARY_COLOUR) / full == pytest.approx(0.6, abs=0.01)  # the ensemble bar
    text = " ".join(result.summary)
    assert "0.25" not in text  # per-ROI values live in the chart and the findings; the summary names them
    assert "Power 20 (-54, -23, 43) L; Power 99 (-16, 29, 53) L; Power 36 (42, -20, 55) R" in text
    assert any("Volumes used: 1-115 of 115" in n.text for n in result.notes)
    assert any("framewise displacement" in n.text for n in result.notes)


def test_sc_chart_absent_when_no_roi_was_covered() -> None:
    assert build_result(_analysis({}, overall=None, too_short=True), {}).key_image is None


def test_demonstration_weights_give_the_classes_as_notes_never_coded() -> None:
    """Real weights: coded per-ROI and overall classes; demonstration weights: the same as notes."""
    analysis = _analysis({20: 0.25, 99: 1.0}, overall=0.6, too_short=False)
    real = build_result(analysis, {})
    assert {f.concept for f in real.coded_diagnoses} == {ROI_OUTPUT, OVERALL}
    demo = build_result(dataclasses.replace(analysis, demonstration=True), {})
    assert demo.coded_diagnoses == [] and demo.findings == []
    texts = {(n.region, n.text) for n in demo.notes}
    assert (20, f"{ROI_OUTPUT.meaning}: control-like temporal pattern (research finding) (p 0.25), "
            f"{DEMONSTRATION_CAVEAT}") in texts  # fmt: skip
    assert (None, f"{OVERALL.meaning}: patient-like temporal pattern (research finding) (p 0.60), "
            f"{DEMONSTRATION_CAVEAT}") in texts  # fmt: skip
    refused = build_result(dataclasses.replace(analysis, demonstration=True, assessed=False), {})
    assert [f.value for f in refused.findings] == [NOT_ASSESSED]  # a process code stays coded
