"""Our evaluator of the BrainChart lifespan models (Bethlehem et al., Nature 2022; 2025 refit).

The model files in ``data/brainchart/models/`` are the authors' ``Share/RefittedModels/FIT_*`` files of
github.com/brainchart/Lifespan (commit 4a6faa1), format-shifted from R's RDS to JSON without changing a
number (licence CC BY-NC-ND 4.0: see ``data/brainchart/NOTICE.md``). Each is a GAMLSS model of one
measure in the generalised gamma family (gamlss ``GG``; BrainChart's ``GGalt`` is a numerically safer
copy with the same parameters)::

    log mu    = b0 + b_sex * [male] + b_fs * fs_version + sum_k b_k * f_k(log age_days) + random(study)
    log sigma = c0 + c_sex * [male] + sum_k c_k * g_k(log age_days) + random(study)
    nu        = constant

* ``age_days`` is post-conception age: ``years * 365.245 + 280`` (BrainChart's convention).
* ``f_k`` / ``g_k`` are fractional-polynomial columns (``bfpNA``): x^p, log x for p = 0; a repeated power
  multiplies the previous column by log x.
* ``fs_version`` uses sum-to-zero contrasts: 0 (the average over FreeSurfer versions) is the population
  curve. ``random(study)`` is left out (population curve); a site's own offset on log mu is what
  ``dicom-node calibrate atrophy`` estimates (:mod:`.calibration`).
* The outcome is modelled as value / 10000 (the files' ``toTransformed``); we return mm^3.

Generalised gamma (Lopatatzidis & Green; gamlss ``GG``), theta = 1 / (sigma^2 nu^2), z = (y / mu)^nu::

    F(y) = P(theta, theta * z)        nu > 0      (P: regularised lower incomplete gamma)
    F(y) = 1 - P(theta, theta * z)    nu < 0
    log-normal(log mu, sigma)          nu = 0

z-scores are normal quantiles of the centile (GAMLSS's normalised quantile residuals).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy import special, stats

MODELS_DIR = Path(__file__).parent / "data" / "brainchart" / "models"
DAYS_PER_YEAR = 365.245
GESTATION_DAYS = 280.0
OUTCOME_SCALE = 10000.0
CITATION = (
    "Bethlehem RAI, Seidlitz J, White SR et al. Brain charts for the human lifespan."
    " Nature 604, 525-533 (2022), doi:10.1038/s41586-022-04554-y (models: brainchart/Lifespan 4a6faa1,"
    " 2025 refit; CC BY-NC-ND 4.0)"
)
_FP_TERM = re.compile(r"bfpNA\(AgeTransformed, powers = c\(([^)]*)\)\)(\d*)$")


def age_to_x(age_years: float) -> float:
    """The models' AgeTransformed: log of post-conception age in days."""
    return math.log(age_years * DAYS_PER_YEAR + GESTATION_DAYS)


def fp_columns(x: float, powers: tuple[float, ...]) -> list[float]:
    """Fractional-polynomial columns of x for ``powers`` (repeated powers multiply by log x)."""
    columns: list[float] = []
    for index, power in enumerate(powers):
        base = math.log(x) if power == 0 else x**power
        if index > 0 and power == powers[index - 1]:
            columns.append(columns[-1] * math.log(x))
        else:
            columns.append(base)
    return columns


@dataclass(frozen=True)
class LinearPredictor:
    """Fixed effects of one GAMLSS parameter (intercept, male, fractional polynomials of age)."""

    intercept: float
    male: float
    powers: tuple[float, ...]
    fp_coefficients: tuple[float, ...]

    @classmethod
    def from_fixef(cls, fixef: dict[str, float]) -> LinearPredictor:
        powers: tuple[float, ...] = ()
        coefficients: dict[int, float] = {}
        for name, value in fixef.items():
            match = _FP_TERM.match(name)
            if match:
                powers = tuple(float(p) for p in match.group(1).split(","))
                coefficients[int(match.group(2) or 1)] = float(value)
            elif name not in ("(Intercept)", "sexMale") and not name.startswith("fs_version"):
                raise ValueError(f"unexpected BrainChart term {name!r}")
        return cls(
            intercept=float(fixef["(Intercept)"]),
            male=float(fixef.get("sexMale", 0.0)),
            powers=powers,
            fp_coefficients=tuple(coefficients[k] for k in sorted(coefficients)),
        )

    def value(self, x: float, sex: str) -> float:
        ages = sum(c * v for c, v in zip(self.fp_coefficients, fp_columns(x, self.powers), strict=True))
        return self.intercept + (self.male if sex == "M" else 0.0) + ages


@dataclass(frozen=True)
class GeneralisedGamma:
    """GG(mu, sigma, nu) in mm^3 (see the module docstring); ``offset`` scales mu by exp(offset)."""

    mu: float
    sigma: float
    nu: float

    @property
    def theta(self) -> float:
        return 1.0 / (self.sigma * self.nu) ** 2

    def cdf(self, value: float) -> float:
        if value <= 0:
            return 0.0
        if abs(self.nu) < 1e-6:
            return float(stats.norm.cdf((math.log(value) - math.log(self.mu)) / self.sigma))
        z = (value / self.mu) ** self.nu
        lower = float(special.gammainc(self.theta, self.theta * z))
        return lower if self.nu > 0 else 1.0 - lower

    def quantile(self, p: float) -> float:
        if abs(self.nu) < 1e-6:
            return self.mu * math.exp(self.sigma * float(stats.norm.ppf(p)))
        q = p if self.nu > 0 else 1.0 - p
        z = float(special.gammaincinv(self.theta, q)) / self.theta
        return self.mu * z ** (1.0 / self.nu)

    def moment(self, order: int) -> float:
        """E[Y^order] (closed form; finite when theta + order / nu > 0)."""
        if abs(self.nu) < 1e-6:
            return math.exp(order * math.log(self.mu) + 0.5 * (order * self.sigma) ** 2)
        t, k = self.theta, order / self.nu
        return self.mu**order * math.exp(special.gammaln(t + k) - special.gammaln(t) - k * math.log(t))

    def mean_sd(self) -> tuple[float, float]:
        mean = self.moment(1)
        return mean, math.sqrt(max(self.moment(2) - mean * mean, 0.0))

    def log_pdf(self, value: float) -> float:
        if abs(self.nu) < 1e-6:
            return float(stats.lognorm.logpdf(value, self.sigma, scale=self.mu))
        t, z = self.theta, (value / self.mu) ** self.nu
        return (
            math.log(abs(self.nu)) + t * math.log(t) + t * math.log(z) - t * z
            - float(special.gammaln(t)) - math.log(value)
        )  # fmt: skip


@dataclass(frozen=True)
class Model:
    """One BrainChart measure: its mu / sigma predictors, nu, and where it came from."""

    measure: str
    mu: LinearPredictor
    sigma: LinearPredictor
    nu: float
    n_train: int
    study_sd: float  # between-study SD on log mu (random(study)), for the calibration's prior scale

    def distribution(self, age: float, sex: str, offset: float = 0.0) -> GeneralisedGamma:
        """Population distribution (mm^3) at ``age`` years for sex M/F; ``offset`` adds to log mu."""
        x = age_to_x(age)
        mu = math.exp(self.mu.value(x, sex) + offset) * OUTCOME_SCALE
        return GeneralisedGamma(mu, math.exp(self.sigma.value(x, sex)), self.nu)

    def median(self, age: float, sex: str) -> float:
        return self.distribution(age, sex).quantile(0.5)

    def centile(self, value_mm3: float, age: float, sex: str) -> float:
        return self.distribution(age, sex).cdf(value_mm3)

    def z(self, value_mm3: float, age: float, sex: str) -> float:
        return float(stats.norm.ppf(np.clip(self.centile(value_mm3, age, sex), 1e-12, 1 - 1e-12)))


@cache
def load(measure: str, directory: Path = MODELS_DIR) -> Model:
    """The shipped model of ``measure`` (a DK parcel name, Hippocampus, eTIV, GMV)."""
    path = directory / f"{measure}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("family") not in ("GG", "GGalt") or data["links"] != {
        "mu": "log",
        "sigma": "log",
        "nu": "identity",
    }:
        raise ValueError(f"{path}: not a generalised gamma model with log/log/identity links")
    if "Z / 10000" not in data["transformations"]["Y"]["toTransformed"]:
        raise ValueError(f"{path}: unexpected outcome transformation")
    return Model(
        measure=measure,
        mu=LinearPredictor.from_fixef(data["mu"]["fixef"]),
        sigma=LinearPredictor.from_fixef(data["sigma"]["fixef"]),
        nu=float(data["nu"]["fixef"]["(Intercept)"]),
        n_train=int(data["N"]),
        study_sd=float(data["mu"]["random_effect_sd"] or 0.0),
    )
