"""What the report says per region: volume, expected median, centile, z and a qualitative evaluation.

Every region gets its volume (mL) and % of ICV. When it is assessed it also gets the population
median for age and sex (SCT 373099004 "Median Value of population"), the centile (DCM 121415
"Percentile Ranking of measurement", %), the z-score (DCM 121416 "Z-Score of measurement") and a
qualitative evaluation under DCM 121402 "Normality": SCT 125112009 "Within normal limits", or SCT
371880002 "Abnormally Low" (below the expected range, i.e. atrophy) when the centile is under the
threshold (``pipelines.atrophy.params.atrophy_centile``, default 2.5). When it is not assessed it gets
"Normality" = SCT 373121007 "Not Evaluated" and a coded reason (:data:`REASONS`), plus a note saying
why. The references (citation, ICV adjustment, site calibration) and the number of regions tested are
report notes (:class:`inference.pipeline.Note`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.sr.coding import Code

from inference.pipeline import NOT_EVALUATED, REASON_NOT_ASSESSED, Finding, Measurement, Note
from inference.pipelines.atrophy import brainchart, reference
from inference.pipelines.atrophy.calibration import Calibration
from inference.pipelines.atrophy.norms_table import NormsTable
from inference.pipelines.atrophy.regions import REGIONS, Region

VOLUME = Code("118565006", "SCT", "Volume")
VOLUME_RATIO = Code("113288", "DCM", "Volume Ratio")
POPULATION_MEDIAN = Code("373099004", "SCT", "Median Value of population")
CENTILE = Code("121415", "DCM", "Percentile Ranking of measurement")
Z_SCORE = Code("121416", "DCM", "Z-Score of measurement")
NORMALITY = Code("121402", "DCM", "Normality")
WITHIN_NORMAL_LIMITS = Code("125112009", "SCT", "Within normal limits")
BELOW_RANGE = Code("371880002", "SCT", "Abnormally Low")
MILLILITER = Code("mL", "UCUM", "milliliter")
PERCENT = Code("%", "UCUM", "percent")
Z_UNIT = Code("{z-score}", "UCUM", "z-score")
LOCAL_SCHEME = "99DCMNODE"
REASON = REASON_NOT_ASSESSED  # a process code, not a diagnosis (inference.pipeline)
REASON_QC = Code("110531", "DCM", "Insufficient quality for interpretation")
REASON_COARSE = Code("COARSESRC", LOCAL_SCHEME, "Source voxels too coarse for norm comparison")
REASON_DEMOGRAPHICS = Code("NOAGESEX", LOCAL_SCHEME, "Patient age or sex unknown")
REASON_NORMS_OFF = Code("NORMSOFF", LOCAL_SCHEME, "Normative comparison switched off")
DEFAULT_CENTILE = 2.5
CENTILEBRAIN_CITATION = (
    "Ge R, Yu Y, Qi YX et al. Normative modelling of brain morphometry across the lifespan with"
    " CentileBrain. Lancet Digit Health 6(3):e211-e221 (2024), doi:10.1016/S2589-7500(23)00250-9"
)


@dataclass(frozen=True)
class NotAssessed:
    """Why no region is compared with a reference: a coded reason and the sentence the report gives."""

    code: Code
    text: str


@dataclass(frozen=True)
class RegionOutcome:
    region: Region
    volume_ml: float
    percent_icv: float
    evaluation: reference.Evaluation | None  # None: not assessed
    below: bool


@dataclass(frozen=True)
class Assessment:
    outcomes: list[RegionOutcome]
    measurements: list[Measurement]
    findings: list[Finding]
    notes: list[Note]
    lines: list[str]


def _site_table(
    table: NormsTable, region: Region, volume_ml: float, percent: float, age: float, sex: str, icv: float
) -> reference.Evaluation | None:
    site = table.assess(region.structure, region.side, percent, age, sex)
    if site is None:
        return None
    centile = 100.0 * 0.5 * math.erfc(-site.z / math.sqrt(2.0))
    return reference.Evaluation(site.expected_percent * icv / 100.0, centile, site.z, True, table.note)


def evaluate_regions(
    volumes: Mapping[int, float],
    icv_ml: float,
    age: float | None,
    sex: str | None,
    reasons: list[NotAssessed],
    *,
    threshold: float = DEFAULT_CENTILE,
    calibration: Calibration | None = None,
    norms_table: NormsTable | None = None,
) -> list[RegionOutcome]:
    """Each region's outcome: evaluated against its reference unless ``reasons`` is non-empty."""
    outcomes = []
    for region in REGIONS:
        volume = volumes[region.label]
        percent = 100.0 * volume / icv_ml if icv_ml > 0 else 0.0
        evaluation = None
        if not reasons and age is not None and sex is not None:
            if norms_table is not None:
                evaluation = _site_table(norms_table, region, volume, percent, age, sex, icv_ml)
            if evaluation is None:
                offset = calibration.offset(region) if calibration else 0.0
                evaluation = reference.evaluate(
                    region.structure, region.side, volume, age, sex, icv_ml, offset
                )
        below = evaluation is not None and evaluation.below(threshold)
        outcomes.append(RegionOutcome(region, volume, percent, evaluation, below))
    return outcomes


def report(
    outcomes: list[RegionOutcome],
    icv_ml: float,
    reasons: list[NotAssessed],
    *,
    threshold: float = DEFAULT_CENTILE,
    calibration: Calibration | None = None,
    age: float | None = None,
    sex: str | None = None,
) -> Assessment:
    """Measurements, findings, notes and summary lines for the regional outcomes."""
    measurements = [Measurement(VOLUME, round(icv_ml, 1), MILLILITER)]
    findings: list[Finding] = []
    notes: list[Note] = []
    lines: list[str] = []
    for outcome in outcomes:
        label, evaluation = outcome.region.label, outcome.evaluation
        measurements.append(Measurement(VOLUME, round(outcome.volume_ml, 2), MILLILITER, region=label))
        measurements.append(Measurement(VOLUME_RATIO, round(outcome.percent_icv, 3), PERCENT, region=label))
        line = f"{outcome.region.name}: {outcome.volume_ml:.1f} mL, {outcome.percent_icv:.2f} % of ICV"
        if evaluation is None:
            findings.append(Finding(NORMALITY, NOT_EVALUATED, region=label))
            for reason in reasons:
                findings.append(Finding(REASON, reason.code, region=label))
            lines.append(f"{line} (not assessed)")
            continue
        measurements.extend(
            [
                Measurement(POPULATION_MEDIAN, round(evaluation.expected_ml, 2), MILLILITER, region=label),
                Measurement(CENTILE, round(evaluation.centile, 2), PERCENT, region=label),
                Measurement(Z_SCORE, round(evaluation.z, 2), Z_UNIT, region=label),
            ]
        )
        verdict = BELOW_RANGE if outcome.below else WITHIN_NORMAL_LIMITS
        findings.append(Finding(NORMALITY, verdict, region=label))
        adjusted = "ICV-adjusted" if evaluation.icv_adjusted else "not ICV-adjusted"
        notes.append(Note(f"Reference: {evaluation.reference} ({adjusted})", region=label))
        words = "below the expected range" if outcome.below else "within normal limits"
        lines.append(
            f"{line}; expected median {evaluation.expected_ml:.1f} mL, centile {evaluation.centile:.1f},"
            f" z {evaluation.z:+.2f}: {words}"
        )
    tested = [o for o in outcomes if o.evaluation is not None]
    if tested:
        below = [o.region.name for o in tested if o.below]
        chance = 100.0 * (1.0 - (1.0 - threshold / 100.0) ** len(tested))
        summary = Note(
            f"{len(tested)} regions tested against age- and sex-specific norms, each at the"
            f" {threshold:g}th centile; {len(below)} below the expected range. Even with independent"
            f" regions about {chance:.0f} % of healthy people have at least one region below by chance."
        )
        notes.append(summary)
        notes.append(Note(f"Norms: lobes {brainchart.CITATION}; hippocampus {CENTILEBRAIN_CITATION}"))
        if calibration is not None:
            notes.append(Note(f"Site calibration: {calibration.description}"))
        if age is not None and sex is not None:
            notes.extend(_cross_check(outcomes, age, sex, icv_ml))
        lines.append(
            "Annotation codes (AI-Hub style): " + " ".join(str(o.region.code(o.below)) for o in tested)
        )
        lines.append(summary.text)
    else:
        text = "Regional volumes not compared with norms: " + "; ".join(r.text for r in reasons)
        notes.append(Note(text))
        lines.append(text)
    return Assessment(outcomes, measurements, findings, notes, lines)


def _cross_check(outcomes: list[RegionOutcome], age: float, sex: str, icv_ml: float) -> list[Note]:
    notes = []
    for outcome in outcomes:
        if outcome.region.structure != "hippocampus" or outcome.evaluation is None:
            continue
        check = reference.hippocampus_cross_check(outcome.volume_ml, age, sex, icv_ml, outcome.region.side)
        notes.append(
            Note(
                f"Cross-check: BrainChart hippocampus median {check.brainchart_median_ml:.2f} mL (no ICV"
                f" term), centile {check.brainchart_centile:.1f}; CentileBrain expects"
                f" {check.centilebrain_ml:.2f} mL at this ICV",
                region=outcome.region.label,
            )
        )
    return notes
