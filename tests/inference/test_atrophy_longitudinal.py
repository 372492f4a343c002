"""Longitudinal atrophy: the change since a prior, cached per series, against normal ageing.

Two real runs through :func:`inference.registry.run_pipeline` share one cache (module scope, about two
minutes on two cores: three segmentations). The real Siemens XA30 T1 is every time point:

* run A: the T1 as it is (2022-07-11) with a prior copy (new UIDs, Study Date two years earlier) in
  ``context/priors/``: the prior is measured (read and segmented) and both records are cached;
* run B: a follow-up copy a year later "from another scanner" (Manufacturer and field strength changed)
  whose priors are run A's two series, their DICOM files deleted: both records are reused from the
  cache without reading a pixel and without being rewritten, and the change is stated but not called
  significant.

``assess_coarse`` is on so that a significance call is possible at all on this 2 mm source.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from structlog.testing import capture_logs

from dicom_node.errors import ConfigError, InputError
from inference import dicom_out, registry
from inference.pipeline import AlgorithmInfo, Result, Series
from inference.pipelines.atrophy import ageing, longitudinal, measurement_cache, timepoints
from inference.pipelines.atrophy.acquisition import Acquisition, describe
from inference.pipelines.atrophy.comparability import compare as compare_acquisitions
from inference.pipelines.atrophy.longitudinal import (
    LOSS_BEYOND_AGEING,
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    UNDETERMINED,
)
from inference.pipelines.atrophy.measurement_cache import SeriesMeasurements
from inference.pipelines.atrophy.params import AtrophyParams, parse_params
from inference.pipelines.atrophy.pipeline import AtrophyPipeline
from inference.pipelines.atrophy.regions import REGIONS
from inference.study_context import StudyContext
from tests.inference.dicom_checks import assert_valid, sr_items, sr_text_values
from tests.viewer import expected
from tests.viewer.ohif_parse import missing, parse

DATA = Path(__file__).resolve().parents[1] / "data"
XA30_T1 = DATA / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"
SETTINGS = {"params": {"assess_coarse": "true"}}
CODES = {"PRIORVOL", "VOLCHANGE", "VOLCHANGEPCT", "VOLRATE", "NORMRATE"}


def _copy(folder: Path, *, study_date: str, age: str, **changes: Any) -> str:
    """Copy the XA30 T1 into ``folder`` as another study (new UIDs); return its Series Instance UID."""
    folder.mkdir(parents=True)
    series_uid, study_uid, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    for path in sorted(XA30_T1.iterdir()):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.FrameOfReferenceUID = frame_of_reference
        for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if keyword in ds:
                setattr(ds, keyword, study_date)
        ds.PatientAge = age
        ds.PatientSex = ds.get("PatientSex") or "M"
        ds.PatientBirthDate = ds.get("PatientBirthDate") or "19910101"
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(folder / path.name, enforce_file_format=True)
    return series_uid


@dataclass
class Run:
    job: Path
    outputs: list[Dataset]
    series: Series
    result: Result
    logs: list[MutableMapping[str, Any]]

    @property
    def sr(self) -> Dataset:
        return next(ds for ds in self.outputs if ds.Modality == "SR")


def _run(job: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    seen: list[tuple[Series, Result]] = []
    write = dicom_out.write_outputs

    def spy(series: Series, result: Result, *args: Any, **kwargs: Any) -> list[Dataset]:
        seen.append((series, result))
        return write(series, result, *args, **kwargs)

    monkeypatch.setattr(dicom_out, "write_outputs", spy)
    with capture_logs() as logs:
        outputs = registry.run_pipeline("atrophy", job / "input", SETTINGS)
    return Run(job, outputs, seen[0][0], seen[0][1], logs)


@dataclass
class Runs:
    a: Run
    b: Run
    cache: Path
    current_uid: str  # run A's series (the original T1)
    prior_uid: str  # run A's prior (two years earlier)
    follow_up_uid: str  # run B's series (another scanner, a year later)
    stamps: dict[str, tuple[int, bytes]]  # the two records after run A: mtime_ns, bytes


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("longitudinal")
    cache = root / "cache"
    cache.mkdir()
    job_a = root / "a"
    shutil.copytree(XA30_T1, job_a / "input")
    current_uid = str(pydicom.dcmread(next(XA30_T1.iterdir()), stop_before_pixels=True).SeriesInstanceUID)
    prior_folder = job_a / "context" / "priors" / "tmp"
    prior_uid = _copy(prior_folder, study_date="20200711", age="029Y")
    prior_folder.rename(prior_folder.with_name(f"20200711_{prior_uid}"))
    (job_a / "context" / "cache").symlink_to(cache)
    with pytest.MonkeyPatch.context() as patch:
        a = _run(job_a, patch)
    stamps = {}
    for uid in (current_uid, prior_uid):
        path = cache / f"{uid}.json"
        stamps[uid] = (path.stat().st_mtime_ns, path.read_bytes())
    job_b = root / "b"
    follow_up_uid = _copy(
        job_b / "input",
        study_date="20230711",
        age="032Y",
        Manufacturer="GE MEDICAL SYSTEMS",
        MagneticFieldStrength="1.5",
    )
    for date, uid in (("20220711", current_uid), ("20200711", prior_uid)):
        (job_b / "context" / "priors" / f"{date}_{uid}").mkdir(parents=True)  # no DICOM file: cache only
    (job_b / "context" / "cache").symlink_to(cache)
    with pytest.MonkeyPatch.context() as patch:
        b = _run(job_b, patch)
    yield Runs(a, b, cache, current_uid, prior_uid, follow_up_uid, stamps)


def _numbers(sr: Dataset) -> dict[tuple[str, str], list[float]]:
    """NUM values by (code value, unit), every region group together."""
    found: dict[tuple[str, str], list[float]] = {}
    for item in sr_items(sr, "NUM"):
        value = item.MeasuredValueSequence[0]
        key = (item.ConceptNameCodeSequence[0].CodeValue, value.MeasurementUnitsCodeSequence[0].CodeValue)
        found.setdefault(key, []).append(float(value.NumericValue))
    return found


def _by_region(result: Result, code: str) -> dict[int | None, float]:
    return {m.region: m.value for m in result.measurements if m.concept.value == code}


def test_the_sr_reports_prior_volume_change_rate_and_normal_ageing_per_region(runs: Runs) -> None:
    result = runs.a.result
    volumes, priors = _by_region(result, "118565006"), _by_region(result, "PRIORVOL")
    changes, percents = _by_region(result, "VOLCHANGE"), _by_region(result, "VOLCHANGEPCT")
    rates, normal = _by_region(result, "VOLRATE"), _by_region(result, "NORMRATE")
    years = _by_region(result, "385673002")[None]
    assert years == pytest.approx(2.0, abs=0.01)
    for region in REGIONS:
        label = region.label
        assert changes[label] == pytest.approx(volumes[label] - priors[label], abs=0.011)
        assert percents[label] == pytest.approx(100.0 * changes[label] / priors[label], abs=0.05)
        assert rates[label] == pytest.approx(percents[label] / years, abs=0.05)
        assert -3.0 < normal[label] < 0.5, (region.name, normal[label])  # adult ageing: slow or no loss
    numbers = _numbers(runs.a.sr)
    for code in CODES:
        unit = {"PRIORVOL": "mL", "VOLCHANGE": "mL", "VOLCHANGEPCT": "%"}.get(code, "%/a")
        assert len(numbers[(code, unit)]) == len(REGIONS), code
    texts = sr_text_values(runs.a.sr)
    assert any(t.startswith("Compared with the prior of 2020-07-11") for t in texts), texts
    assert any(t.startswith("Scans comparable") for t in texts), texts
    assert any("assumed per-scan repeatability" in t for t in texts)


def test_comparable_scans_get_a_call_against_normal_ageing(runs: Runs) -> None:
    """The same pixels two years apart: no loss, so never significant, but a call is made."""
    calls = {f.region: f.value for f in runs.a.result.findings if f.concept == LOSS_BEYOND_AGEING}
    assert set(calls) == {r.label for r in REGIONS}
    margin = longitudinal.margin(AtrophyParams().change_repeatability, 2.0)
    rates, normal = _by_region(runs.a.result, "VOLRATE"), _by_region(runs.a.result, "NORMRATE")
    for label, value in calls.items():
        expected = SIGNIFICANT if rates[label] - normal[label] < -margin else NOT_SIGNIFICANT
        assert value == expected
    assert any(
        line.startswith("Since 2020-07-11 (2.00 years), scans comparable") for line in runs.a.result.summary
    )


def test_the_trajectories_hold_every_time_point_against_centile_curves(runs: Runs) -> None:
    trajectories = runs.b.result.trajectories
    assert [t.region for t in trajectories] == [r.label for r in REGIONS]
    for trajectory in trajectories:
        assert [p.label for p in trajectory.points] == ["2020-07-11", "2022-07-11", "2023-07-11"]
        ages = [p.age_years for p in trajectory.points]
        assert ages == sorted(ages) and ages[2] - ages[0] == pytest.approx(3.0, abs=0.01)
        assert set(trajectory.centiles) == {2.5, 50.0, 97.5}
        low, median, high = (trajectory.centiles[c] for c in (2.5, 50.0, 97.5))
        assert all(lo[1] < mid[1] < hi[1] for lo, mid, hi in zip(low, median, high, strict=True))
        assert low[0][0] < ages[0] and low[-1][0] > ages[-1]


def test_records_are_cached_and_reused_without_reading_pixels_or_rewriting(runs: Runs) -> None:
    events_a = [(e["event"], e.get("series_uid")) for e in runs.a.logs]
    assert ("prior measured", runs.prior_uid) in events_a
    for uid in (runs.current_uid, runs.prior_uid, runs.follow_up_uid):
        assert (runs.cache / f"{uid}.json").is_file()
    events_b = [(e["event"], e.get("series_uid")) for e in runs.b.logs]
    assert ("prior measurements reused", runs.current_uid) in events_b
    assert ("prior measurements reused", runs.prior_uid) in events_b
    assert not [e for e in events_b if e[0] in ("prior measured", "prior not measured")]
    for uid, (mtime, content) in runs.stamps.items():
        path = runs.cache / f"{uid}.json"
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, content), f"{uid} rewritten"
    pipeline = registry.load("atrophy", SETTINGS)
    assert isinstance(pipeline, AtrophyPipeline)
    record = measurement_cache.load(runs.cache, runs.prior_uid, pipeline.measured_by)
    assert record is not None and record.study_date == "20200711"
    assert record.acquisition.repetition_ms == 1800.0 and record.acquisition.flip_deg == 9.0


def test_another_scanner_is_stated_and_never_called_significant(runs: Runs) -> None:
    texts = sr_text_values(runs.b.sr)
    statement = next(t for t in texts if t.startswith("Scans NOT comparable"))
    assert "manufacturer 'Siemens Healthineers' then 'GE MEDICAL SYSTEMS'" in statement
    assert "field strength 3 T then 1.5 T" in statement
    assert any(t.startswith("Significance not called: scans not comparable") for t in texts)
    calls = {f.value for f in runs.b.result.findings if f.concept == LOSS_BEYOND_AGEING}
    assert calls == {UNDETERMINED}
    assert any("scans NOT comparable" in line for line in runs.b.result.summary)
    assert not any("loss beyond normal ageing" in line for line in runs.b.result.summary)
    assert _by_region(runs.b.result, "385673002")[None] == pytest.approx(1.0, abs=0.01)  # vs 2022, newest


def test_outputs_pass_dciodvfy_and_every_number_has_a_unit(runs: Runs, tmp_path: Path) -> None:
    for run in (runs.a, runs.b):
        for ds in run.outputs:
            warnings = assert_valid(ds, tmp_path)
            assert [w for w in warnings if "PatientName" not in w and "99DCMNODE" not in w] == []
        for item in sr_items(run.sr, "NUM"):
            unit = item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0]
            assert unit.CodeValue and unit.CodingSchemeDesignator == "UCUM"
        for item in sr_items(run.sr, "CODE"):
            assert item.ConceptCodeSequence[0].CodeValue


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_ohif_draws_every_group_and_shows_every_new_number(runs: Runs, tmp_path: Path) -> None:
    """OHIF 3.13.2's own parser (tests/viewer) on the SR with the change: every NUM labelled and shown."""
    source = tmp_path / "source"
    source.mkdir()
    for path in sorted((runs.a.job / "input").iterdir()):
        pydicom.dcmread(path).save_as(source / path.name, enforce_file_format=True)
    out = tmp_path / "out"
    out.mkdir()
    for ds in runs.a.outputs:
        ds.save_as(out / f"{ds.Modality}.dcm", enforce_file_format=True)
    report = parse(source, out)
    assert report["verdict"]["failures"] == [], report["verdict"]["failures"]
    [sr] = report["sr"]
    assert sr["failures"] == []
    drawn = Counter(label for m in sr["ohif"]["measurements"] for label in m["labels"])
    assert all(m["shown"] and not m.get("droppedNUMs") for m in sr["ohif"]["measurements"])
    want = expected.sr_labels(Path(sr["file"]))
    assert sum(n for label, n in want.items() if "prior study" in label) == 3 * len(REGIONS)
    assert want - drawn == Counter(), sorted((want - drawn).elements())


# --- pure arithmetic and rules (no pixels) ---


def _acquisition(**changes: Any) -> Acquisition:
    base = Acquisition(
        "Siemens Healthineers", "MAGNETOM Prisma Fit", 3.0, "t1_mprage", "*tfl3d1_16ns", "GR", "3D",
        (1.0, 1.0, 1.0), 2300.0, 2.98, 900.0, 9.0, "syngo MR XA30",
    )  # fmt: skip
    return replace(base, **changes)


def test_comparability_rules() -> None:
    same = compare_acquisitions(
        _acquisition(), _acquisition(manufacturer="SIEMENS", repetition_ms=2340.0), 2.0
    )
    assert same.comparable and same.rate_meaningful and same.stated == ()
    other = compare_acquisitions(
        _acquisition(), _acquisition(field_strength_t=1.5, voxel_mm=(1.0, 1.0, 1.2)), 2
    )
    assert not other.comparable and len(other.blocking) == 2
    assert "NOT comparable" in other.statement() and "not called significant" in other.statement()
    for change in (
        {"repetition_ms": 2500.0},
        {"flip_deg": 7.0},
        {"sequence_name": "tfl3d1"},
        {"model": "Skyra"},
    ):
        assert not compare_acquisitions(_acquisition(), _acquisition(**change), 2.0).comparable, change
    assert compare_acquisitions(_acquisition(), _acquisition(sequence_name="tfl3d1_16ns"), 2.0).comparable
    text = compare_acquisitions(_acquisition(), _acquisition(series_description="T1 MPR"), 2.0)
    assert text.comparable and text.stated == ("series description 't1_mprage' then 'T1 MPR'",)
    unknown = compare_acquisitions(_acquisition(), _acquisition(echo_ms=None), 2.0)
    assert unknown.comparable and unknown.stated == ("TE recorded in one scan only",)
    short = compare_acquisitions(_acquisition(), _acquisition(), 0.25)
    assert short.comparable and not short.rate_meaningful and "3.0 months" in short.statement()
    assert not compare_acquisitions(_acquisition(), _acquisition(), None).rate_meaningful


def test_describe_reads_enhanced_mr_functional_groups() -> None:
    ds = pydicom.dcmread(next(XA30_T1.iterdir()), stop_before_pixels=True)
    found = describe(ds, (2.0, 2.0, 2.000001))
    assert (found.repetition_ms, found.echo_ms, found.inversion_ms, found.flip_deg) == (
        1800.0,
        2.41,
        900.0,
        9.0,
    )
    assert found.sequence_name == "*tfl3d1_16ns" and found.acquisition_type == "3D"
    assert found.field_strength_t == 3.0 and found.voxel_mm == (2.0, 2.0, 2.0)
    assert Acquisition.from_json(found.to_json()) == found
    ds.Manufacturer, ds.MagneticFieldStrength = "Philips", "1.5"
    verdict = compare_acquisitions(found, describe(ds, (2.0, 2.0, 2.0)), 2.0)
    assert not verdict.comparable and len(verdict.blocking) == 2


def test_rate_margin_and_call() -> None:
    assert longitudinal.interval_years("20200711", "20220711") == pytest.approx(2.0, abs=0.003)
    assert longitudinal.interval_years("", "20220711") is None
    margin = longitudinal.margin(3.0, 2.0)
    assert margin == pytest.approx(1.96 * math.sqrt(2.0) * 1.5)
    assert longitudinal.call(-5.0, -0.5, True, margin) == SIGNIFICANT
    assert longitudinal.call(-2.0, -0.5, True, margin) == NOT_SIGNIFICANT
    assert longitudinal.call(-9.0, -0.5, False, margin) == UNDETERMINED
    assert longitudinal.call(-9.0, None, True, margin) == UNDETERMINED


def _record(uid: str, date: str, age: float | None, scale: float = 1.0, **changes: Any) -> SeriesMeasurements:
    volumes = {r.label: (4.0 if r.structure == "hippocampus" else 80.0) * scale for r in REGIONS}
    record = SeriesMeasurements(uid, "algo 1", date, age, "F", volumes, 1450.0, acquisition=_acquisition())
    return replace(record, **changes)


def test_compare_computes_change_rate_and_calls_a_fast_loss() -> None:
    current = _record("1.2.3", "20240101", 72.0, scale=0.85)
    prior = _record("1.2.2", "20220101", 70.0)
    years = longitudinal.interval_years(prior.study_date, current.study_date)
    assert years is not None
    comparability = compare_acquisitions(prior.acquisition, current.acquisition, years)
    report = longitudinal.compare(
        current, [prior], comparability, blockers=[], repeatability_percent=3.0, demonstration=False
    )
    for change in report.changes:
        assert change.change_percent == pytest.approx(-15.0)
        assert change.rate == pytest.approx(-15.0 / years)
        assert change.normal_rate is not None and -3.0 < change.normal_rate < 0.0  # loss at 70
        assert change.call == SIGNIFICANT  # -7.5 %/a against a normal loss under 3 %/a, margin 4.2 %/a
    demo = longitudinal.compare(
        current, [prior], comparability, blockers=[], repeatability_percent=3.0, demonstration=True
    )
    assert demo.findings == [] and any("Demonstration" in n.text for n in demo.notes)
    blocked = longitudinal.compare(
        current, [prior], comparability, blockers=["x"], repeatability_percent=3.0, demonstration=False
    )
    assert {f.value for f in blocked.findings} == {UNDETERMINED}


def test_normal_ageing_rate_has_no_norm_outside_the_models() -> None:
    hippocampus = next(r for r in REGIONS if r.structure == "hippocampus")
    assert ageing.normal_rate(hippocampus, 91.0, 93.0, "M", 1500.0) is None
    assert ageing.normal_rate(hippocampus, 70.0, 70.0, "M", 1500.0) is None
    rate = ageing.normal_rate(hippocampus, 70.0, 72.0, "M", 1500.0)
    assert rate is not None and rate < 0.0


def test_no_priors_leaves_the_result_alone_but_stores_the_record(tmp_path: Path) -> None:
    def refuse(folder: Path) -> SeriesMeasurements:
        raise AssertionError("no prior to measure")

    algorithm = AlgorithmInfo("algo", "1")
    current = _record("1.2.3", "20240101", 72.0)
    assert timepoints.follow_up(None, current, refuse, AtrophyParams(), algorithm).report is None
    (tmp_path / "context" / "cache").mkdir(parents=True)
    context = StudyContext(tmp_path / "context")
    followed = timepoints.follow_up(context, current, refuse, AtrophyParams(), algorithm)
    assert followed.report is None and followed.notes == [] and followed.trajectories == []
    assert followed.extend([], [], ["line"]) == ([], [], ["line"])
    assert measurement_cache.load(tmp_path / "context" / "cache", "1.2.3", "algo 1") == current
    assert measurement_cache.load(tmp_path / "context" / "cache", "1.2.3", "algo 2") is None  # other version


def test_change_repeatability_param() -> None:
    assert parse_params({}).change_repeatability == 4.0
    assert parse_params({"change_repeatability": "2.5"}).change_repeatability == 2.5
    with pytest.raises(ConfigError, match="change_repeatability"):
        parse_params({"change_repeatability": "0"})


def test_a_stale_record_is_measured_again_and_a_bad_prior_is_left_out(tmp_path: Path) -> None:
    cache = tmp_path / "context" / "cache"
    cache.mkdir(parents=True)
    (tmp_path / "context" / "priors" / "20220101_1.2.9").mkdir(parents=True)
    (tmp_path / "context" / "priors" / "20210101_1.2.8").mkdir(parents=True)
    measurement_cache.store(cache, replace(_record("1.2.9", "20220101", 70.0), algorithm="algo 0"))
    (cache / "1.2.8.json").write_text("{not json", encoding="utf-8")
    measured: list[str] = []

    def measure(folder: Path) -> SeriesMeasurements:
        measured.append(folder.name)
        if folder.name.endswith("1.2.8"):
            raise InputError("atrophy needs a 3D T1 volume")
        return _record("1.2.9", "20220101", 70.0, scale=1.02)

    context = StudyContext(tmp_path / "context")
    current = _record("1.2.10", "20240101", 72.0)
    algorithm = AlgorithmInfo("algo", "1")
    followed = timepoints.follow_up(context, current, measure, AtrophyParams(), algorithm)
    assert measured == ["20220101_1.2.9", "20210101_1.2.8"]  # newest first; stale and corrupt: measured
    assert any("1.2.8 could not be measured: atrophy needs a 3D T1" in n.text for n in followed.notes)
    assert followed.report is not None and len(followed.trajectories[0].points) == 2
    stored = measurement_cache.load(cache, "1.2.9", "algo 1")
    assert stored is not None and stored.volumes_ml[1] == pytest.approx(81.6)
    measured.clear()
    again = timepoints.follow_up(context, current, measure, AtrophyParams(), algorithm)
    assert measured == ["20210101_1.2.8"]  # 1.2.9 reused; the bad one is tried again
    assert again.report is not None and again.report.changes[0].prior_ml == pytest.approx(81.6)
    with pytest.raises(ValueError, match="not a Series Instance UID"):
        measurement_cache.record_path(cache, "../1.2")
