"""Our BrainChart evaluator against the reference numbers computed from the same models.

The numbers are those of ``validate_output.txt`` in ../shared/data/norms/brainchart (median and 2.5th /
97.5th centiles in mL, computed there by an independent evaluator of the same model files), the check
against the authors' own README example plot, and the identities a distribution must satisfy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from inference.pipelines.atrophy import brainchart, reference
from inference.pipelines.atrophy.regions import LOBES

# measure, sex, age: (median, 2.5th, 97.5th centile) mL, from validate_output.txt
REFERENCE = {
    ("eTIV", "F", 30): (1467.38, 1219.42, 1748.84),
    ("eTIV", "M", 70): (1606.86, 1324.89, 1928.61),
    ("GMV", "F", 70): (440.62, 365.09, 515.48),
    ("GMV", "M", 30): (563.76, 467.99, 658.69),
    ("Hippocampus", "F", 30): (4.47, 3.71, 5.26),
    ("Hippocampus", "M", 70): (4.11, 3.26, 5.01),
    ("superiorfrontal", "F", 70): (19.79, 15.89, 24.40),
    ("precentral", "M", 30): (15.25, 12.32, 18.47),
    ("superiortemporal", "F", 30): (12.78, 10.25, 15.66),
    ("lateraloccipital", "M", 70): (12.29, 9.45, 15.75),
    ("superiorparietal", "F", 70): (11.56, 8.93, 14.55),
}
MEDIANS_AT_50 = {("eTIV", "F"): 1442.99, ("Hippocampus", "M"): 4.44, ("precentral", "F"): 12.90}


@pytest.mark.parametrize(("key", "expected"), list(REFERENCE.items()))
def test_centiles_match_the_reference_numbers(key: tuple[str, str, int], expected: tuple[float, ...]) -> None:
    measure, sex, age = key
    distribution = brainchart.load(measure).distribution(age, sex)
    found = [distribution.quantile(p) / 1000.0 for p in (0.5, 0.025, 0.975)]
    assert found == pytest.approx(expected, abs=0.006)


def test_medians_at_50() -> None:
    for (measure, sex), median in MEDIANS_AT_50.items():
        assert brainchart.load(measure).median(50.0, sex) / 1000.0 == pytest.approx(median, abs=0.006)


def test_readme_example_curve_of_the_2021_gmv_fit() -> None:
    """The authors' README plot (female GMV median, 1e5 mm^3) from the older fit, over log age in days."""
    source = Path(__file__).parents[2] / "../shared/data/norms/brainchart/params/validation/GMV_2021-06.json"
    if not source.is_file():
        pytest.skip("shared BrainChart data not present")
    data = json.loads(source.read_text())
    mu = brainchart.LinearPredictor.from_fixef(data["mu"]["fixef"])
    sigma = brainchart.LinearPredictor.from_fixef(data["sigma"]["fixef"])
    nu = float(data["nu"]["fixef"]["(Intercept)"])
    grid = np.linspace(math.log(90), math.log(365 * 95), 16)  # the README example's ages
    expected = {3: 1.46, 5: 3.96, 8: 5.79, 14: 4.31, 15: 4.00}
    for index, value in expected.items():
        x = float(grid[index])
        gg = brainchart.GeneralisedGamma(math.exp(mu.value(x, "F")), math.exp(sigma.value(x, "F")), nu)
        assert gg.quantile(0.5) * 10000 / 1e5 == pytest.approx(value, abs=0.006)


def test_cdf_inverts_quantile_and_moments_match_integration() -> None:
    from scipy import integrate

    for measure in ("Hippocampus", "frontalpole", "eTIV"):
        d = brainchart.load(measure).distribution(63.0, "M")
        for p in (0.01, 0.025, 0.5, 0.9):
            assert d.cdf(d.quantile(p)) == pytest.approx(p, abs=1e-10)
        mean, sd = d.mean_sd()
        lo, hi = d.quantile(1e-9), d.quantile(1 - 1e-9)
        density = d.log_pdf
        numeric = integrate.quad(lambda y, f=density: y * math.exp(f(y)), lo, hi, limit=200)[0]
        assert numeric == pytest.approx(mean, rel=1e-4)
        variance = integrate.quad(
            lambda y, f=density, m=mean: (y - m) ** 2 * math.exp(f(y)), lo, hi, limit=200
        )[0]
        assert math.sqrt(variance) == pytest.approx(sd, rel=1e-3)


def test_fractional_polynomial_repeated_powers() -> None:
    x = 9.0
    assert brainchart.fp_columns(x, (-2.0, -2.0, -2.0)) == pytest.approx(
        [x**-2, x**-2 * math.log(x), x**-2 * math.log(x) ** 2]
    )
    assert brainchart.fp_columns(x, (0.0, 3.0)) == pytest.approx([math.log(x), x**3])


def test_lobe_sum_mean_is_the_parcel_sum_and_the_spread_lies_between_the_bounds() -> None:
    for structure in LOBES:
        mean, sd = reference.lobe_mean_sd(structure, 55.0, "F")
        moments = [brainchart.load(p).distribution(55.0, "F").mean_sd() for p in LOBES[structure]]
        assert mean == pytest.approx(sum(m for m, _ in moments))
        independent = math.sqrt(sum(s * s for _, s in moments))
        comonotone = sum(s for _, s in moments)
        factor = reference.hemisphere_factor(structure)
        assert independent * factor < sd < comonotone * factor
    assert 0.4 < reference.parcel_correlation(55.0, "F") < 0.55  # SOURCE.md: rho ~0.47


def test_hippocampus_centilebrain_agrees_with_brainchart_at_the_median_etiv() -> None:
    """Cross-check: CentileBrain's expected volume at BrainChart's median eTIV vs BrainChart's median."""
    for sex in ("F", "M"):
        for age in (30.0, 50.0, 70.0):
            etiv_ml = brainchart.load("eTIV").median(age, sex) / 1000.0
            check = reference.hippocampus_cross_check(4.0, age, sex, etiv_ml, "left")
            right = reference.hippocampus_cross_check(4.0, age, sex, etiv_ml, "right")
            both = (check.centilebrain_ml + right.centilebrain_ml) / 2
            assert both == pytest.approx(check.brainchart_median_ml, rel=0.08)


def test_models_are_shipped_with_their_licence() -> None:
    folder = brainchart.MODELS_DIR.parent
    assert "CC BY-NC-ND 4.0" in (folder / "NOTICE.md").read_text()
    assert "by-nc-nd/4.0" in (folder / "README_brainchart_Lifespan.md").read_text()
    names = {p.stem for p in brainchart.MODELS_DIR.glob("*.json")}
    assert {p for parcels in LOBES.values() for p in parcels} | {"Hippocampus", "eTIV", "GMV"} <= names
