"""The CentileBrain hippocampus reference (age, sex and ICV) and Patient's Age / Sex parsing.

The hippocampal reference (CentileBrain) lives here; the lobes use BrainChart (:mod:`.reference`).
Research use only, not a diagnosis. Where the coefficients come from, how they were checked and the
reference's limits: docs/atrophy-hippocampus.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_CUTOFF = -1.645
REFERENCE_ICV_ML = 1500.0  # convention used only when the caller gives no ICV (see the module docstring)
MODEL_AGE_RANGE = (3.0, 90.0)  # CentileBrain training range (Ge et al. 2024)
SIDES = ("left", "right")
SOURCE_NOTE = (
    "hippocampus: CentileBrain normative model (Ge et al., Lancet Digit Health 2024), FreeSurfer eTIV-based;"
    " research use only"
)


@dataclass(frozen=True)
class FpTerm:
    """One fractional-polynomial term of age: coefficient * (age/100)^power * log(age/100)^log_power."""

    coefficient: float
    power: float
    log_power: int = 0

    def value(self, age: float) -> float:
        x = age / 100.0
        return self.coefficient * x**self.power * math.log(x) ** self.log_power


@dataclass(frozen=True)
class CentileBrainModel:
    """A CentileBrain MFPR model of one structure (mm^3) from age and eTIV (mm^3), for one sex and side."""

    intercept: float  # $fit intercept
    centring: float  # K: the constant mfp's centring leaves out of $fit
    terms: tuple[FpTerm, ...]
    icv_slope: float  # mm^3 per mm^3 of eTIV
    rmse: float  # training residuals, mm^3
    n_train: int

    def volume_mm3(self, age: float, icv_mm3: float) -> float:
        age = min(max(age, MODEL_AGE_RANGE[0]), MODEL_AGE_RANGE[1])
        ages = sum(term.value(age) for term in self.terms)
        return self.intercept + self.centring + ages + self.icv_slope * icv_mm3


# Ge et al. 2024, CentileBrain MFPmodels_subcorticalvolume_{male,female}.rds (Lhippo, Rhippo); K from
# pwighton/fs-centilebrain offsets-subcortical.csv. Full-precision values as stored in those files.
HIPPOCAMPUS_MODELS: dict[tuple[str, str], CentileBrainModel] = {
    ("M", "left"): CentileBrainModel(
        254.249777869, 2438.95318033167,
        (FpTerm(-13.797612650607139, -1.0), FpTerm(-1532.0357159861128, 3.0)),
        0.001165838099274153, 351.08550219770797, 16827,
    ),
    ("M", "right"): CentileBrainModel(
        314.02078842686205, 2453.01624354962,
        (FpTerm(84.77031871311638, 0.0, 1), FpTerm(-1684.2798475237682, 3.0)),
        0.0012176202021438117, 358.8904558278217, 16823,
    ),
    ("F", "left"): CentileBrainModel(
        165.8191086079909, 2247.22606079547,
        (FpTerm(-0.7069087691568349, -2.0), FpTerm(-1104.7245164325052, 3.0)),
        0.001234296407770935, 315.15367679973775, 19213,
    ),
    ("F", "right"): CentileBrainModel(
        91.42619177968959, 2254.66300797213,
        (FpTerm(-1394.6622513694797, 3.0), FpTerm(-1521.471008045141, 3.0, 1)),
        0.0013017095705111087, 321.66083893051484, 19242,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class HippocampusNorm:
    """Expected % of ICV and its SD from the CentileBrain models (see the module docstring)."""

    models: dict[tuple[str, str], CentileBrainModel]

    def _pick(self, sex: str, side: str | None) -> list[CentileBrainModel]:
        key = "F" if sex == "F" else "M"
        return [self.models[(key, s)] for s in ((side,) if side in SIDES else SIDES)]

    def expected_percent(self, age: float, sex: str, icv_ml: float, side: str | None) -> float:
        models = self._pick(sex, side)
        volume = sum(m.volume_mm3(age, icv_ml * 1000.0) for m in models) / len(models)
        return 100.0 * volume / (icv_ml * 1000.0)

    def sd_percent(self, age: float, sex: str, icv_ml: float, side: str | None) -> float:
        models = self._pick(sex, side)
        return 100.0 * sum(m.rmse for m in models) / len(models) / (icv_ml * 1000.0)


NORMS: dict[str, HippocampusNorm] = {"hippocampus": HippocampusNorm(HIPPOCAMPUS_MODELS)}


@dataclass(frozen=True)
class Assessment:
    """Expected fraction of ICV (%), the z-score of the measured one, and the atrophy flag."""

    expected_percent: float
    z: float
    atrophy: bool


def expected_percent(
    structure: str, age: float, sex: str, icv_ml: float | None = None, side: str | None = None
) -> float:
    """Expected % of ICV for ``structure`` (hippocampus) at ``age`` for sex M/F.

    ``icv_ml``: the subject's ICV (used by the hippocampal model; :data:`REFERENCE_ICV_ML` when None).
    ``side``: left / right (hippocampus: that side's model; None: mean of both).
    """
    return NORMS[structure].expected_percent(age, sex, icv_ml or REFERENCE_ICV_ML, side)


def assess(
    structure: str,
    percent_of_icv: float,
    age: float,
    sex: str,
    icv_ml: float | None = None,
    side: str | None = None,
) -> Assessment:
    """Compare a measured % of ICV with the reference for this age and sex (and ICV, side when given)."""
    norm = NORMS[structure]
    icv = icv_ml or REFERENCE_ICV_ML
    expected = norm.expected_percent(age, sex, icv, side)
    z = (percent_of_icv - expected) / norm.sd_percent(age, sex, icv, side)
    return Assessment(expected_percent=expected, z=z, atrophy=z < Z_CUTOFF)


def parse_age(value: object) -> float | None:
    """DICOM Patient's Age (AS, e.g. '067Y', '006M') in years; None when absent or unreadable."""
    text = str(value or "").strip().upper()
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in "DWMY":
        return None
    per_year = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[text[3]]
    return int(text[:3]) / per_year


def parse_sex(value: object) -> str | None:
    """'M' or 'F' from Patient's Sex; None otherwise (O or absent: no sex-specific norm)."""
    text = str(value or "").strip().upper()
    return text if text in ("M", "F") else None
