"""Age- and sex-specific reference ranges for ICV-normalised regional volumes, and the atrophy flag.

HONEST STATUS: these are *approximate, unverified* reference values for a demonstration, not validated
norms. We could not consult the cited tables while writing this (no internet), so the numbers below are
our rounded reading of the literature, to be replaced by a proper normative data set before any use:

* Hippocampus: ICV-adjusted hippocampal volume nomograms by age and sex from UK Biobank, Nobis L. et al.,
  "Hippocampal volume across age: Nomograms derived from over 19,700 people in UK Biobank",
  NeuroImage: Clinical 23 (2019) 101904. Reference fraction ~0.27 % of ICV per side at 50 years,
  yearly loss ~0.4 % before and faster after 60 (also Fraser M.A. et al., "A systematic review and
  meta-analysis of longitudinal hippocampal atrophy in healthy human ageing", NeuroImage 112 (2015)
  364-374, pooled ~1 %/year above 70).
* Lobar cortex: FreeSurfer cortical volumes in healthy ageing, Fjell A.M. et al., "High consistency of
  regional cortical thinning in aging across multiple samples", Cereb. Cortex 19 (2009) 2001-2012 and
  Fjell A.M. et al., "One-year brain atrophy evident in healthy aging", J. Neurosci. 29 (2009)
  15223-15231 (cortical loss ~0.5 %/year after 60). Lobe fractions of ICV at 50 years are our rounded
  estimates for DKT-based lobes (frontal ~5.8 %, temporal ~3.9 %, parietal ~4.0 %, occipital ~1.7 % per
  hemisphere).

Model: expected fraction f(age) = f50 * (1 - rate_before * (min(age, 60) - 50)) * (1 - rate_after *
max(age - 60, 0)), SD = cv * f(age); women's hippocampal fraction +3 % (ICV-normalised volumes are slightly
larger in women in most series). A region is flagged as atrophic when its z-score is below -1.645 (under
the 5th percentile, the cut-off used for the UK Biobank nomograms).

The paper (seed 004) gives no rule from regional atrophy to the class dementia / MCI / normal: its
classes come from neuropsychological testing (SNSB). We therefore derive no class from these flags; a
class is reported only by a trained head (``dicom-node train atrophy``), when one is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

Z_CUTOFF = -1.645
REFERENCE_AGE = 50.0
BREAK_AGE = 60.0
SOURCE_NOTE = (
    "approximate reference ranges (Nobis 2019; Fraser 2015; Fjell 2009), not validated: research use only"
)


@dataclass(frozen=True)
class Norm:
    """Reference fraction of ICV (%) at 50 years, yearly relative loss before/after 60, and CV."""

    fraction_at_50: float
    loss_before_60: float
    loss_after_60: float
    cv: float
    female_factor: float = 1.0


NORMS: dict[str, Norm] = {
    "hippocampus": Norm(0.27, 0.004, 0.008, 0.11, female_factor=1.03),
    "frontal": Norm(5.8, 0.003, 0.005, 0.08),
    "temporal": Norm(3.9, 0.003, 0.005, 0.08),
    "parietal": Norm(4.0, 0.003, 0.005, 0.08),
    "occipital": Norm(1.7, 0.002, 0.004, 0.10),
}


@dataclass(frozen=True)
class Assessment:
    """Expected fraction of ICV (%), the z-score of the measured one, and the atrophy flag."""

    expected_percent: float
    z: float
    atrophy: bool


def expected_percent(structure: str, age: float, sex: str) -> float:
    """Expected % of ICV for ``structure`` (frontal ... hippocampus) at ``age`` for sex M/F."""
    norm = NORMS[structure]
    before = min(age, BREAK_AGE) - REFERENCE_AGE
    after = max(age - BREAK_AGE, 0.0)
    value = norm.fraction_at_50 * (1.0 - norm.loss_before_60 * before) * (1.0 - norm.loss_after_60 * after)
    return value * (norm.female_factor if sex == "F" else 1.0)


def assess(structure: str, percent_of_icv: float, age: float, sex: str) -> Assessment:
    """Compare a measured % of ICV with the reference for this age and sex."""
    expected = expected_percent(structure, age, sex)
    z = (percent_of_icv - expected) / (NORMS[structure].cv * expected)
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
