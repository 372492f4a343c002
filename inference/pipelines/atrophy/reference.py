"""Each region's expected volume, centile and z for age and sex (BrainChart lobes, CentileBrain hippocampus).

Lobes (frontal / temporal / parietal / occipital cortex of one hemisphere)
    The sum of the region's Desikan-Killiany parcels (:data:`.regions.LOBES`), each a BrainChart
    generalised-gamma model (:mod:`.brainchart`). For the sum:

    * mean = sum of the parcels' means (exact);
    * variance = sum_i sd_i^2 + rho * sum_{i != j} sd_i sd_j, with one common inter-parcel correlation
      rho per age and sex, solved at run time so that the SD of the 34-parcel sum equals the SD of the
      published GMV model scaled by the parcels' share of its mean (the parcels are per-hemisphere means,
      GMV both hemispheres: share ~0.48). rho comes out ~0.47 over adult ages. Within a lobe parcels are
      probably more correlated than cortex-wide, so this SD is if anything a little small;
    * one hemisphere: the parcel models are for the mean of left and right, so the SD of one side is
      larger by sqrt(2 / (1 + r_LR)). r_LR (:data:`LEFT_RIGHT_R`) is the left-right correlation of the
      age- and sex-adjusted lobar grey-matter volumes of the 291 healthy IXI adults (DLMUSE volumes,
      ``bench/atrophy_ixi.py``): 0.92-0.98, i.e. 1.01-1.04 times the SD;
    * distribution: normal with that mean and SD (a sum of 4-13 parcels; the parcels' own skew is small).

Hippocampus (one side)
    CentileBrain (:mod:`.norms`: Ge et al. 2024, FreeSurfer eTIV as covariate, so the figure is ICV-
    adjusted): expected = model(age, ICV), z = (measured - expected) / RMSE, centile = Phi(z). The
    BrainChart hippocampus model (not ICV-adjusted, mean of both sides) is evaluated beside it as a
    cross-check (:func:`hippocampus_cross_check`).

A site calibration (:mod:`.calibration`) gives each region an offset d on the log scale of its
expected value (BrainChart's random study effect on log mu): the measured volume is divided by exp(d)
before the comparison, i.e. the whole reference distribution is scaled by exp(d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy import stats

from inference.pipelines.atrophy import brainchart, norms
from inference.pipelines.atrophy.regions import LOBES

ALL_PARCELS = tuple(sorted({p for parcels in LOBES.values() for p in parcels} | {"insula"}))
# Left-right correlation of age/sex-adjusted volumes, 291 healthy IXI adults (DLMUSE; bench/atrophy_ixi.py).
LEFT_RIGHT_R = {
    "frontal": 0.980,
    "temporal": 0.951,
    "parietal": 0.950,
    "occipital": 0.921,
    "hippocampus": 0.897,
}
AGE_RANGE = (3.0, 100.0)  # ages are clamped to this range (the models span the lifespan)
BRAINCHART_SHORT = "BrainChart (Bethlehem 2022, 2025 refit)"
CENTILEBRAIN_SHORT = "CentileBrain (Ge 2024)"


@dataclass(frozen=True)
class Evaluation:
    """A measured volume against its reference: expected median (mL), centile (0-100), z, reference."""

    expected_ml: float
    centile: float
    z: float
    icv_adjusted: bool
    reference: str

    def below(self, threshold_centile: float) -> bool:
        return self.centile < threshold_centile


def clamp_age(age: float) -> float:
    return min(max(age, AGE_RANGE[0]), AGE_RANGE[1])


def hemisphere_factor(structure: str) -> float:
    """How much larger one hemisphere's SD is than that of the left-right mean."""
    return math.sqrt(2.0 / (1.0 + LEFT_RIGHT_R[structure]))


def _parcel_moments(parcels: tuple[str, ...], age: float, sex: str) -> list[tuple[float, float]]:
    return [brainchart.load(p).distribution(age, sex).mean_sd() for p in parcels]


@lru_cache(maxsize=4096)
def parcel_correlation(age: float, sex: str) -> float:
    """The common inter-parcel correlation that makes the 34-parcel sum as variable as GMV (scaled)."""
    moments = _parcel_moments(ALL_PARCELS, age, sex)
    mean_sum = sum(m for m, _ in moments)
    gmv_mean, gmv_sd = brainchart.load("GMV").distribution(age, sex).mean_sd()
    target = (gmv_sd * mean_sum / gmv_mean) ** 2
    squares = sum(s * s for _, s in moments)
    cross = sum(s for _, s in moments) ** 2 - squares
    return min(max((target - squares) / cross, 0.0), 1.0)


@lru_cache(maxsize=16384)
def lobe_mean_sd(structure: str, age: float, sex: str) -> tuple[float, float]:
    """Mean and SD (mm^3) of one hemisphere's lobar cortex volume (see the module docstring)."""
    moments = _parcel_moments(LOBES[structure], age, sex)
    rho = parcel_correlation(age, sex)
    squares = sum(s * s for _, s in moments)
    variance = squares + rho * (sum(s for _, s in moments) ** 2 - squares)
    return sum(m for m, _ in moments), math.sqrt(variance) * hemisphere_factor(structure)


def _centile_z(z: float) -> tuple[float, float]:
    return 100.0 * float(stats.norm.cdf(z)), z


def evaluate(
    structure: str,
    side: str,
    volume_ml: float,
    age: float,
    sex: str,
    icv_ml: float,
    offset: float = 0.0,
) -> Evaluation:
    """The region's volume against its population reference (``offset``: site calibration, log scale)."""
    value = volume_ml * 1000.0 * math.exp(-offset)
    scale = math.exp(offset) / 1000.0
    if structure == "hippocampus":
        model = norms.HIPPOCAMPUS_MODELS[("F" if sex == "F" else "M", side)]
        expected = model.volume_mm3(age, icv_ml * 1000.0)
        centile, z = _centile_z((value - expected) / model.rmse)
        return Evaluation(expected * scale, centile, z, True, CENTILEBRAIN_SHORT)
    mean, sd = lobe_mean_sd(structure, clamp_age(age), sex)
    centile, z = _centile_z((value - mean) / sd)
    return Evaluation(mean * scale, centile, z, False, BRAINCHART_SHORT)


def log_density(structure: str, side: str, volume_ml: float, age: float, sex: str, icv_ml: float) -> float:
    """Log density of a healthy volume (mL) at offset 0, for the calibration's likelihood."""
    value = volume_ml * 1000.0
    if structure == "hippocampus":
        model = norms.HIPPOCAMPUS_MODELS[("F" if sex == "F" else "M", side)]
        return float(stats.norm.logpdf(value, model.volume_mm3(age, icv_ml * 1000.0), model.rmse))
    mean, sd = lobe_mean_sd(structure, clamp_age(age), sex)
    return float(stats.norm.logpdf(value, mean, sd))


@dataclass(frozen=True)
class CrossCheck:
    """The hippocampus's BrainChart median (mean of both sides, no ICV term) beside CentileBrain's."""

    brainchart_median_ml: float
    centilebrain_ml: float
    brainchart_centile: float


def hippocampus_cross_check(volume_ml: float, age: float, sex: str, icv_ml: float, side: str) -> CrossCheck:
    model = brainchart.load("Hippocampus")
    distribution = model.distribution(clamp_age(age), sex)
    z = float(stats.norm.ppf(min(max(distribution.cdf(volume_ml * 1000.0), 1e-12), 1 - 1e-12)))
    expected = norms.HIPPOCAMPUS_MODELS[("F" if sex == "F" else "M", side)].volume_mm3(age, icv_ml * 1000.0)
    return CrossCheck(
        distribution.quantile(0.5) / 1000.0,
        expected / 1000.0,
        100.0 * float(stats.norm.cdf(z / hemisphere_factor("hippocampus"))),
    )
