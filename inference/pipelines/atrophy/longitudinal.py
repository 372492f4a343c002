"""The change of each region since the prior: volumes, change, yearly rate against normal ageing.

Per region (formulas and rules: docs/atrophy-longitudinal.md), with V1 the prior's volume, V2 the
current one and dt the interval between the Study Dates in years (365.25 days):

* change = V2 - V1 (mL) and 100 * (V2 - V1) / V1 (%);
* annualised rate = change % / dt (%/year), given only when dt >= 6 months (:mod:`.comparability`);
* normal ageing rate (%/year) of the region's norm over the same ages (:mod:`.ageing`);
* loss beyond normal ageing, coded under "Loss beyond normal ageing" with CID 220's values: Significant
  when rate - normal rate < -margin, with margin = z * sqrt(2) * r / dt (a reliable change index:
  r is the per-scan repeatability of a regional volume in %, ``change_repeatability``); Not
  significant otherwise; Significance Undetermined when the scans are not comparable, the interval is
  short, a time point was not assessable (QC, coarse source, no age or sex, norms off) or there is no
  norm. Demonstration weights give no coded call (only the note).

Concepts without a standard code use the project's private scheme (``99DCMNODE``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydicom.sr.coding import Code

from inference.pipeline import (
    SIGNIFICANCE_UNDETERMINED,
    Finding,
    Measurement,
    Note,
    Trajectory,
    TrajectoryPoint,
)
from inference.pipelines.atrophy import ageing
from inference.pipelines.atrophy.assessment import LOCAL_SCHEME, MILLILITER, PERCENT
from inference.pipelines.atrophy.comparability import Comparability
from inference.pipelines.atrophy.measurement_cache import SeriesMeasurements
from inference.pipelines.atrophy.regions import REGIONS, Region

PRIOR_VOLUME = Code("PRIORVOL", LOCAL_SCHEME, "Volume at prior study")
VOLUME_CHANGE = Code("VOLCHANGE", LOCAL_SCHEME, "Volume change since prior study")
VOLUME_CHANGE_PERCENT = Code("VOLCHANGEPCT", LOCAL_SCHEME, "Relative volume change since prior study")
ANNUAL_RATE = Code("VOLRATE", LOCAL_SCHEME, "Annualised volume change")
NORMAL_RATE = Code("NORMRATE", LOCAL_SCHEME, "Normal ageing rate of volume")
LOSS_BEYOND_AGEING = Code("LOSSVSAGEING", LOCAL_SCHEME, "Loss beyond normal ageing")
SIGNIFICANT = Code("386134007", "SCT", "Significant")
NOT_SIGNIFICANT = Code("371928007", "SCT", "Not significant")
UNDETERMINED = SIGNIFICANCE_UNDETERMINED
INTERVAL = Code("385673002", "SCT", "Interval")
PER_YEAR = Code("%/a", "UCUM", "percent per year")
YEAR = Code("a", "UCUM", "year")
DAYS_PER_YEAR = 365.25
Z_MARGIN = 1.96  # two-sided 95 % of a reliable change index


@dataclass(frozen=True)
class RegionChange:
    region: Region
    prior_ml: float
    current_ml: float
    rate: float | None  # %/year; None: interval too short or unknown
    normal_rate: float | None  # %/year; None: no norm
    call: Code  # SIGNIFICANT / NOT_SIGNIFICANT / UNDETERMINED

    @property
    def change_ml(self) -> float:
        return self.current_ml - self.prior_ml

    @property
    def change_percent(self) -> float:
        return 100.0 * self.change_ml / self.prior_ml if self.prior_ml > 0 else 0.0


@dataclass(frozen=True)
class LongitudinalReport:
    changes: list[RegionChange]
    measurements: list[Measurement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)


def interval_years(prior_date: str, current_date: str) -> float | None:
    """Years between two DICOM dates (YYYYMMDD), or None when either is missing or unreadable."""
    from datetime import date

    try:
        before = date(int(prior_date[:4]), int(prior_date[4:6]), int(prior_date[6:8]))
        after = date(int(current_date[:4]), int(current_date[4:6]), int(current_date[6:8]))
    except (ValueError, IndexError):
        return None
    return (after - before).days / DAYS_PER_YEAR


def margin(repeatability_percent: float, years: float) -> float:
    """The smallest excess yearly loss (%/year) beyond measurement error: z * sqrt(2) * r / dt."""
    return Z_MARGIN * math.sqrt(2.0) * repeatability_percent / years


def call(rate: float | None, normal: float | None, allowed: bool, excess_margin: float) -> Code:
    """Significant when the yearly loss exceeds normal ageing by more than the margin (see above)."""
    if not allowed or rate is None or normal is None:
        return UNDETERMINED
    return SIGNIFICANT if rate - normal < -excess_margin else NOT_SIGNIFICANT


def date_label(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else "date unknown"


def scan_ages(records: list[SeriesMeasurements], current: SeriesMeasurements) -> list[float | None]:
    """Each record's age at its scan: the current age minus the interval when both are known, else its own."""
    ages: list[float | None] = []
    for record in records:
        years = interval_years(record.study_date, current.study_date)
        if current.age_years is not None and years is not None:
            ages.append(current.age_years - years)
        else:
            ages.append(record.age_years)
    return ages


def compare(
    current: SeriesMeasurements,
    priors: list[SeriesMeasurements],
    comparability: Comparability,
    *,
    blockers: list[str],
    repeatability_percent: float,
    demonstration: bool,
    norms_on: bool = True,
) -> LongitudinalReport:
    """The change since the newest of ``priors`` (newest first) and every region's trajectory.

    ``blockers``: why no significance may be called besides comparability (e.g. a coarse source).
    """
    prior = priors[0]
    years = comparability.interval_years
    rate_ok = comparability.rate_meaningful and years is not None
    prior_age, current_age = scan_ages([prior, current], current)
    sex = current.sex
    reasons = list(blockers)
    if not comparability.comparable:
        reasons.insert(0, "scans not comparable")
    if not rate_ok:
        reasons.append("interval under 6 months or unknown")
    if not norms_on:
        reasons.append("norms switched off")
    elif current_age is None or prior_age is None or sex is None:
        reasons.append("age or sex unknown: no normal ageing rate")
    excess = margin(repeatability_percent, years) if rate_ok and years else None
    changes = []
    for region in REGIONS:
        v1, v2 = prior.volumes_ml[region.label], current.volumes_ml[region.label]
        rate = 100.0 * (v2 - v1) / v1 / years if rate_ok and years and v1 > 0 else None
        normal = None
        if norms_on and sex is not None and current_age is not None and prior_age is not None:
            normal = ageing.normal_rate(region, prior_age, current_age, sex, current.icv_ml)
        verdict = call(rate, normal, not reasons, excess or 0.0)
        changes.append(RegionChange(region, v1, v2, rate, normal, verdict))
    report = LongitudinalReport(changes)
    _numbers(report, demonstration, years)
    _text(report, current, priors, comparability, reasons, excess, repeatability_percent, demonstration)
    report.trajectories.extend(trajectories(current, priors, norms_on))
    return report


def _numbers(report: LongitudinalReport, demonstration: bool, years: float | None) -> None:
    if years is not None:
        report.measurements.append(Measurement(INTERVAL, round(years, 2), YEAR))
    for change in report.changes:
        label = change.region.label
        report.measurements.extend(
            [
                Measurement(PRIOR_VOLUME, round(change.prior_ml, 2), MILLILITER, region=label),
                Measurement(VOLUME_CHANGE, round(change.change_ml, 2), MILLILITER, region=label),
                Measurement(VOLUME_CHANGE_PERCENT, round(change.change_percent, 2), PERCENT, region=label),
            ]
        )
        if change.rate is not None:
            rate = Measurement(ANNUAL_RATE, round(change.rate, 2), PER_YEAR, region=label)
            report.measurements.append(rate)
        if change.normal_rate is not None:
            report.measurements.append(
                Measurement(NORMAL_RATE, round(change.normal_rate, 2), PER_YEAR, region=label)
            )
        else:
            report.notes.append(Note("No normal ageing rate for this region (no norm applies)", region=label))
        if not demonstration:
            report.findings.append(Finding(LOSS_BEYOND_AGEING, change.call, region=label))


def _text(
    report: LongitudinalReport,
    current: SeriesMeasurements,
    priors: list[SeriesMeasurements],
    comparability: Comparability,
    reasons: list[str],
    excess: float | None,
    repeatability: float,
    demonstration: bool,
) -> None:
    prior = priors[0]
    years = comparability.interval_years
    span = f"{years:.2f} years" if years is not None else "interval unknown"
    earlier = f"; {len(priors) - 1} earlier time point(s) in the trajectory" if len(priors) > 1 else ""
    report.notes.append(
        Note(
            f"Compared with the prior of {date_label(prior.study_date)} (Series {prior.series_uid}),"
            f" {span}{earlier}"
        )
    )
    report.notes.append(Note(comparability.statement()))
    rule = (
        "Loss beyond normal ageing is called significant when the yearly rate is below the norm's normal"
        f" ageing rate by more than {Z_MARGIN:g} x sqrt(2) x {repeatability:g} % / interval"
    )
    if excess is not None:
        rule += f" = {excess:.2f} %/a"
    rule += (
        f" ({repeatability:g} %: assumed per-scan repeatability of a regional volume; no scan-rescan"
        " measurement exists for this segmentation)"
    )
    report.notes.append(Note(rule))
    if demonstration:
        report.notes.append(Note("Demonstration weights: no significance is called"))
    elif reasons:
        report.notes.append(Note("Significance not called: " + "; ".join(reasons)))
    head = "comparable" if comparability.comparable else "NOT comparable"
    report.lines.append(f"Since {date_label(prior.study_date)} ({span}), scans {head}:")
    for change in report.changes:
        rate = f", {change.rate:+.2f} %/a" if change.rate is not None else ""
        normal = f"; normal ageing {change.normal_rate:+.2f} %/a" if change.normal_rate is not None else ""
        flag = " - loss beyond normal ageing" if change.call == SIGNIFICANT and not demonstration else ""
        report.lines.append(
            f"{change.region.name}: {change.prior_ml:.1f} -> {change.current_ml:.1f} mL"
            f" ({change.change_ml:+.1f} mL, {change.change_percent:+.1f} %{rate}{normal}){flag}"
        )


def trajectories(
    current: SeriesMeasurements, priors: list[SeriesMeasurements], norms_on: bool
) -> list[Trajectory]:
    """Every region's volumes over time (oldest first) against its norm's centile curves."""
    records = [*reversed(priors), current]
    ages = scan_ages(records, current)
    known = [(r, a) for r, a in zip(records, ages, strict=True) if a is not None]
    if len(known) < 2:
        return []
    found = []
    for region in REGIONS:
        points = [
            TrajectoryPoint(round(age, 2), round(r.volumes_ml[region.label], 2), date_label(r.study_date))
            for r, age in known
        ]
        centiles: dict[float, list[tuple[float, float]]] = {}
        if norms_on and current.sex is not None:
            centiles = ageing.centile_curves(region, [a for _, a in known], current.sex, current.icv_ml)
        found.append(Trajectory(region.name, "mL", points, centiles, region=region.label))
    return found
