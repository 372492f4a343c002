"""The atrophy pipeline's time points: the current series' record, the priors' (measured once), the change.

The node lays the priors out beside the job (:mod:`inference.study_context`). For each prior the
cached record (:mod:`.measurement_cache`) is used when it was measured by the same algorithm, without
reading a pixel; otherwise the prior is read with the pipeline's own reader, measured and its record
stored. The current series' record is stored too, so it is a ready prior for the next study. Without
priors nothing changes in the result. A prior that cannot be measured is left out with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dicom_node.errors import InputError, PipelineError
from dicom_node.logsetup import get_logger
from inference.pipeline import AlgorithmInfo, Finding, Measurement, Note, Series, Trajectory
from inference.pipelines.atrophy import measurement_cache, norms
from inference.pipelines.atrophy.acquisition import describe
from inference.pipelines.atrophy.comparability import compare as compare_acquisitions
from inference.pipelines.atrophy.longitudinal import LongitudinalReport, compare, interval_years
from inference.pipelines.atrophy.measurement_cache import SeriesMeasurements
from inference.pipelines.atrophy.params import AtrophyParams
from inference.study_context import PriorSeries, StudyContext

log = get_logger(__name__)
Measure = Callable[[Path], SeriesMeasurements]


@dataclass(frozen=True)
class FollowUp:
    """What the priors add to the result (nothing when there are none)."""

    report: LongitudinalReport | None = None
    skipped: list[Note] = field(default_factory=list)  # priors left out, and why

    @property
    def notes(self) -> list[Note]:
        return [*self.skipped, *(self.report.notes if self.report else [])]

    @property
    def trajectories(self) -> list[Trajectory]:
        return list(self.report.trajectories) if self.report else []

    def extend(
        self, measurements: list[Measurement], findings: list[Finding], summary: list[str]
    ) -> tuple[list[Measurement], list[Finding], list[str]]:
        """The result's measurements, findings and summary lines with the change since the prior."""
        if self.report is None:
            return measurements, findings, summary
        report = self.report
        return (
            [*measurements, *report.measurements],
            [*findings, *report.findings],
            [*summary, *report.lines],
        )


def age_at_scan(ds: object) -> float | None:
    """Age in years at the scan: from Patient's Birth Date and the Study Date, else Patient's Age."""
    birth, study = str(getattr(ds, "PatientBirthDate", "") or ""), str(getattr(ds, "StudyDate", "") or "")
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
        scanned = date(int(study[:4]), int(study[4:6]), int(study[6:8]))
        if scanned >= born:
            return (scanned - born).days / 365.25
    except (ValueError, IndexError):
        pass
    return norms.parse_age(getattr(ds, "PatientAge", None))


def record(
    series: Series,
    volumes_ml: dict[int, float],
    icv_ml: float,
    algorithm: str,
    coarse: bool,
    qc_problem: str | None,
) -> SeriesMeasurements:
    """The record of what was measured on ``series``."""
    ds = series.datasets[0]
    return SeriesMeasurements(
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        algorithm=algorithm,
        study_date=str(ds.get("StudyDate", "") or ""),
        age_years=age_at_scan(ds),
        sex=norms.parse_sex(ds.get("PatientSex")),
        volumes_ml={k: round(v, 4) for k, v in volumes_ml.items()},
        icv_ml=round(icv_ml, 3),
        coarse=coarse,
        qc_problem=qc_problem,
        acquisition=describe(ds, series.spacing_mm),
    )


def prior_record(
    prior: PriorSeries, cache_dir: Path | None, algorithm: str, measure: Measure
) -> SeriesMeasurements:
    """The prior's record: the cached one when it is this algorithm's, else measured (and stored)."""
    uid = prior.series_instance_uid
    if cache_dir is not None:
        cached = measurement_cache.load(cache_dir, uid, algorithm)
        if cached is not None:
            log.info("prior measurements reused", series_uid=uid, study_date=prior.study_date)
            return cached
    found = measure(prior.folder)
    if found.series_uid != uid:
        raise InputError(f"the prior's folder holds series {found.series_uid}, not {uid}")
    if cache_dir is not None:
        _store(cache_dir, found)
    log.info("prior measured", series_uid=uid, study_date=prior.study_date, cached=cache_dir is not None)
    return found


def _store(cache_dir: Path, found: SeriesMeasurements) -> None:
    """Cache ``found``; a cache that cannot be written costs a later measurement, never this report."""
    try:
        measurement_cache.store(cache_dir, found)
    except OSError as exc:
        log.warning("measurements not cached", series_uid=found.series_uid, reason=str(exc))


def _blockers(records: list[SeriesMeasurements], params: AtrophyParams) -> list[str]:
    found = []
    if any(r.qc_problem for r in records):
        found.append("a time point failed the parcellation QC")
    if any(r.coarse for r in records) and not params.assess_coarse:
        found.append("source voxels coarser than 1.5 mm (assess_coarse off)")
    return found


def follow_up(
    context: StudyContext | None,
    current: SeriesMeasurements,
    measure: Measure,
    params: AtrophyParams,
    algorithm: AlgorithmInfo,
) -> FollowUp:
    """Store the current record; measure or reuse the priors; compare with the newest usable one."""
    if context is None:
        return FollowUp()
    cache_dir = context.cache_dir
    if cache_dir is not None and measurement_cache.is_uid(current.series_uid):
        _store(cache_dir, current)
    notes: list[Note] = []
    priors: list[SeriesMeasurements] = []
    for prior in context.priors():
        if prior.series_instance_uid == current.series_uid:
            continue
        later = interval_years(prior.study_date, current.study_date)
        if later is not None and later <= 0.0:
            text = f"Prior series {prior.series_instance_uid} left out: not earlier than this study"
            notes.append(Note(text))
            continue
        try:
            priors.append(prior_record(prior, cache_dir, current.algorithm, measure))
        except (InputError, PipelineError, OSError, ValueError) as exc:
            log.warning("prior not measured", series_uid=prior.series_instance_uid, reason=str(exc))
            notes.append(Note(f"Prior series {prior.series_instance_uid} could not be measured: {exc}"))
    if not priors:
        return FollowUp(None, notes)
    comparability = compare_acquisitions(
        priors[0].acquisition,
        current.acquisition,
        interval_years(priors[0].study_date, current.study_date),
    )
    report = compare(
        current,
        priors,
        comparability,
        blockers=_blockers([current, priors[0]], params),
        repeatability_percent=params.change_repeatability,
        demonstration=algorithm.demonstration,
        norms_on=params.norms != "off",
    )
    return FollowUp(report, notes)
