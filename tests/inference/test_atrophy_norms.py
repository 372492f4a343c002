"""atrophy reference ranges: the hippocampal CentileBrain models (Ge et al. 2024) and the lobar fallbacks."""

from __future__ import annotations

import pytest

from inference.pipelines.atrophy import norms

# FreeSurfer's sample subject "bert" as scored by centilebrain.org (male, 40 years, Siemens), stored in
# github.com/pwighton/fs-centilebrain: eTIV from tests/fixtures/bert-7.3.2-aseg.stats, predictions from
# reference/web-results/bert_male_age40_2026-09-18-15-04-41/prediction_SubcorticalVolume_male.csv.
BERT_ETIV_ML = 1518348.145089 / 1000.0
BERT_WEBSITE_MM3 = {"left": 4330.80675625803, "right": 4430.34023970806}


@pytest.mark.parametrize("side", ["left", "right"])
def test_hippocampus_reproduces_centilebrain_website_prediction(side: str) -> None:
    model = norms.HIPPOCAMPUS_MODELS[("M", side)]
    assert model.volume_mm3(40.0, BERT_ETIV_ML * 1000.0) == pytest.approx(BERT_WEBSITE_MM3[side], abs=1e-6)
    percent = norms.expected_percent("hippocampus", 40.0, "M", icv_ml=BERT_ETIV_ML, side=side)
    assert percent == pytest.approx(100.0 * BERT_WEBSITE_MM3[side] / (BERT_ETIV_ML * 1000.0), rel=1e-12)


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_hippocampus_shrinks_with_age_and_loss_accelerates(sex: str, side: str) -> None:
    model = norms.HIPPOCAMPUS_MODELS[(sex, side)]
    volumes = [model.volume_mm3(age, 1.5e6) for age in (40, 50, 60, 70, 80)]
    assert volumes == sorted(volumes, reverse=True)
    # Nobis et al. 2019: hippocampal loss accelerates from middle age; in the CentileBrain models the
    # yearly loss at 70-80 is more than twice that at 40-50.
    assert volumes[3] - volumes[4] > 2.0 * (volumes[0] - volumes[1])


@pytest.mark.parametrize("side", ["left", "right"])
def test_hippocampus_sex_difference_and_icv_scaling(side: str) -> None:
    male, female = norms.HIPPOCAMPUS_MODELS[("M", side)], norms.HIPPOCAMPUS_MODELS[("F", side)]
    # At equal eTIV, young men have larger hippocampi than young women in both published models.
    assert male.volume_mm3(30.0, 1.4e6) > female.volume_mm3(30.0, 1.4e6)
    # Larger head: larger hippocampus, but a smaller fraction of ICV (the model is not proportional).
    small = norms.expected_percent("hippocampus", 60.0, "M", icv_ml=1300.0, side=side)
    large = norms.expected_percent("hippocampus", 60.0, "M", icv_ml=1700.0, side=side)
    assert large < small and large * 1700.0 > small * 1300.0
    # Expected fraction of eTIV in the range FreeSurfer hippocampi take (about 0.25-0.31 % per side).
    assert 0.25 < norms.expected_percent("hippocampus", 50.0, "F", icv_ml=1400.0, side=side) < 0.31


def test_hippocampus_z_is_residual_over_training_rmse() -> None:
    model = norms.HIPPOCAMPUS_MODELS[("F", "left")]
    icv_ml, age = 1350.0, 72.0
    expected_mm3 = model.volume_mm3(age, icv_ml * 1000.0)
    for sds, atrophic in ((-2.0, True), (-1.0, False), (0.0, False)):
        percent = 100.0 * (expected_mm3 + sds * model.rmse) / (icv_ml * 1000.0)
        result = norms.assess("hippocampus", percent, age, "F", icv_ml=icv_ml, side="left")
        assert result.z == pytest.approx(sds, abs=1e-9)
        assert result.atrophy is atrophic


def test_hippocampus_defaults_side_mean_reference_icv_and_age_clamp() -> None:
    left = norms.expected_percent("hippocampus", 65.0, "M", icv_ml=1450.0, side="left")
    right = norms.expected_percent("hippocampus", 65.0, "M", icv_ml=1450.0, side="right")
    assert norms.expected_percent("hippocampus", 65.0, "M", icv_ml=1450.0) == pytest.approx(
        (left + right) / 2
    )
    assert norms.expected_percent("hippocampus", 65.0, "M") == norms.expected_percent(
        "hippocampus", 65.0, "M", icv_ml=norms.REFERENCE_ICV_ML
    )
    assert norms.expected_percent("hippocampus", 97.0, "F") == norms.expected_percent(
        "hippocampus", 90.0, "F"
    )


def test_parse_age_and_sex() -> None:
    assert norms.parse_age("072Y") == 72 and norms.parse_age("006M") == 0.5 and norms.parse_age("72") is None
    assert norms.parse_sex(" m ") == "M" and norms.parse_sex("O") is None and norms.parse_sex(None) is None
