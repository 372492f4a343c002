"""Normal ageing of each region from the norms the pipeline already compares with (:mod:`.reference`).

* Expected volume: lobes, the BrainChart mean of the lobe's parcels for age and sex (the centre of the
  normal approximation :func:`.reference.lobe_mean_sd`, i.e. its median); hippocampus, CentileBrain's
  expected volume for age, sex, side and the subject's ICV (held at the current scan's).
* Normal ageing rate over an interval (%/year): ``100 * (E(a2) - E(a1)) / E(a1) / (a2 - a1)``, the
  same formula as the measured rate (:mod:`.longitudinal`), so the two compare directly.
* Centile curves for the trajectory chart: ``E(a) + z_c * SD(a)`` with the reference's SD (lobes: the
  lobe SD of :mod:`.reference`; hippocampus: the CentileBrain model's RMSE).

Outside a model's age range (:data:`AGE_RANGES`) there is no norm: no rate, no curve.
"""

from __future__ import annotations

from collections.abc import Sequence

from scipy import stats

from inference.pipelines.atrophy import norms, reference
from inference.pipelines.atrophy.regions import Region

AGE_RANGES: dict[str, tuple[float, float]] = {
    "hippocampus": norms.MODEL_AGE_RANGE,  # CentileBrain's training range
    "lobe": reference.AGE_RANGE,  # BrainChart's lifespan models
}
CENTILES = (2.5, 50.0, 97.5)
CURVE_POINTS = 21


def age_range(region: Region) -> tuple[float, float]:
    return AGE_RANGES["hippocampus" if region.structure == "hippocampus" else "lobe"]


def in_range(region: Region, age: float) -> bool:
    low, high = age_range(region)
    return low <= age <= high


def expected_and_sd_ml(region: Region, age: float, sex: str, icv_ml: float) -> tuple[float, float]:
    """The region's expected volume and its SD (mL) at ``age`` for sex M/F (see the module docstring)."""
    if region.structure == "hippocampus":
        model = norms.HIPPOCAMPUS_MODELS[("F" if sex == "F" else "M", region.side)]
        return model.volume_mm3(age, icv_ml * 1000.0) / 1000.0, model.rmse / 1000.0
    mean, sd = reference.lobe_mean_sd(region.structure, reference.clamp_age(age), sex)
    return mean / 1000.0, sd / 1000.0


def normal_rate(region: Region, age_from: float, age_to: float, sex: str, icv_ml: float) -> float | None:
    """The normal ageing rate (%/year) between two ages, or None (no interval, or outside the norm)."""
    if age_to - age_from <= 0.0 or not (in_range(region, age_from) and in_range(region, age_to)):
        return None
    before, _ = expected_and_sd_ml(region, age_from, sex, icv_ml)
    after, _ = expected_and_sd_ml(region, age_to, sex, icv_ml)
    return 100.0 * (after - before) / before / (age_to - age_from)


def centile_curves(
    region: Region, ages: Sequence[float], sex: str, icv_ml: float, margin_years: float = 2.0
) -> dict[float, list[tuple[float, float]]]:
    """The :data:`CENTILES` curves (age, mL) spanning ``ages`` (plus a margin), within the norm's range."""
    low, high = age_range(region)
    start, stop = max(min(ages) - margin_years, low), min(max(ages) + margin_years, high)
    if stop <= start:
        return {}
    grid = [start + (stop - start) * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    curves: dict[float, list[tuple[float, float]]] = {c: [] for c in CENTILES}
    for age in grid:
        expected, sd = expected_and_sd_ml(region, age, sex, icv_ml)
        for centile in CENTILES:
            z = float(stats.norm.ppf(centile / 100.0))
            curves[centile].append((round(age, 3), round(expected + z * sd, 3)))
    return curves
