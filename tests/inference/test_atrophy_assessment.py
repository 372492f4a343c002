"""atrophy pipeline: what each region's report says (centile, z, evaluation) and when it is "not assessed".

Fast: the regional report is computed from volumes, without the networks. The volumes are those the
pipeline measured on the 2 mm Siemens XA30 3D T1 of a healthy 31-year-old man (deepbet mask, see
docs/pipelines.md): under-segmented, so most regions come out below the expected range when compared.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import assessment as a
from inference.pipelines.atrophy import reference
from inference.pipelines.atrophy.params import AtrophyParams, parse_params
from inference.pipelines.atrophy.params_model import flag
from inference.pipelines.atrophy.pipeline import not_assessed, report_regions
from inference.pipelines.atrophy.regions import REGIONS

XA30_ICV_ML = 1573.0
XA30_VOLUMES_ML = {1: 74.5, 2: 61.9, 3: 37.2, 4: 39.7, 5: 65.7, 6: 61.4, 7: 22.1, 8: 14.7, 9: 2.7, 10: 3.4}


def _evaluations(report: a.Assessment) -> dict[int, str]:
    return {f.region or 0: f.value.meaning for f in report.findings if f.concept == a.NORMALITY}


def _measured(report: a.Assessment, concept: object) -> dict[int | None, float]:
    return {m.region: m.value for m in report.measurements if m.concept == concept}


def test_coarse_source_is_not_assessed_with_a_coded_reason_but_still_measured() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=True)
    assert set(_evaluations(report).values()) == {"Not Evaluated"} and len(_evaluations(report)) == 10
    reasons = {(f.region, f.value) for f in report.findings if f.concept == a.REASON}
    assert reasons == {(r.label, a.REASON_COARSE) for r in REGIONS}
    assert not _measured(report, a.CENTILE) and not _measured(report, a.Z_SCORE)
    assert not any(line.startswith("Annotation codes") for line in report.lines)
    assert "source voxels coarser than 1.5 mm" in report.notes[-1].text and report.notes[-1].region is None
    volumes, fractions = _measured(report, a.VOLUME), _measured(report, a.VOLUME_RATIO)
    assert volumes[None] == XA30_ICV_ML and volumes[9] == 2.7 and len(volumes) == 11
    assert fractions[10] == pytest.approx(100.0 * 3.4 / XA30_ICV_ML, abs=1e-3) and len(fractions) == 10


def test_every_assessed_region_carries_median_centile_z_and_a_consistent_evaluation() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False)
    centiles, zs = _measured(report, a.CENTILE), _measured(report, a.Z_SCORE)
    medians = _measured(report, a.POPULATION_MEDIAN)
    evaluations = _evaluations(report)
    assert sorted(centiles) == sorted(zs) == sorted(medians) == list(range(1, 11))
    for label in range(1, 11):
        # centile and z are the same statement (rounded to 2 decimals in the SR)
        assert centiles[label] == pytest.approx(100 * 0.5 * math.erfc(-zs[label] / math.sqrt(2)), abs=0.3)
        below = centiles[label] < 2.5
        assert evaluations[label] == ("Abnormally Low" if below else "Within normal limits")
    # a region measured at its expected median sits at the 50th centile
    at_median = {**XA30_VOLUMES_ML, 5: medians[5]}
    again = report_regions(at_median, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert _measured(again, a.CENTILE)[5] == pytest.approx(50.0, abs=0.5)
    codes = next(line for line in report.lines if line.startswith("Annotation codes")).split(": ")[1]
    assert [int(c) % 10 for c in codes.split()] == [
        int(evaluations[i] == "Abnormally Low") for i in range(1, 11)
    ]


def test_report_notes_state_references_citation_and_regions_tested_once() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False)
    whole = [n.text for n in report.notes if n.region is None]
    tested = [t for t in whole if "regions tested" in t]
    assert len(tested) == 1 and tested[0].startswith("10 regions tested") and "2.5th centile" in tested[0]
    assert any("doi:10.1038/s41586-022-04554-y" in t and "CC BY-NC-ND 4.0" in t for t in whole)
    per_region = {n.region: n.text for n in report.notes if n.region and n.text.startswith("Reference")}
    assert "BrainChart" in per_region[1] and "not ICV-adjusted" in per_region[1]
    assert "CentileBrain" in per_region[9] and "(ICV-adjusted)" in per_region[9]
    assert any(n.region == 9 and n.text.startswith("Cross-check: BrainChart") for n in report.notes)


def test_threshold_is_configurable_and_moves_the_evaluation() -> None:
    volumes = {**XA30_VOLUMES_ML}
    base = report_regions(volumes, XA30_ICV_ML, 31.0, "M", coarse=False)
    centile = _measured(base, a.CENTILE)[7]  # left occipital, between 2.5 and 50 here
    assert 2.5 < centile < 50
    strict = report_regions(
        volumes, XA30_ICV_ML, 31.0, "M", coarse=False, params=parse_params({"atrophy_centile": 50})
    )
    assert _evaluations(base)[7] == "Within normal limits" and _evaluations(strict)[7] == "Abnormally Low"
    for bad in ("x", 0, 60):
        with pytest.raises(ConfigError, match=r"params\.atrophy_centile"):
            parse_params({"atrophy_centile": bad})


def test_norms_off_reports_volumes_only_with_its_reason() -> None:
    report = report_regions(
        XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False, params=parse_params({"norms": "off"})
    )
    assert set(_evaluations(report).values()) == {"Not Evaluated"}
    assert {f.value for f in report.findings if f.concept == a.REASON} == {a.REASON_NORMS_OFF}
    with pytest.raises(ConfigError, match=r"params\.norms: expected one of brainchart, off"):
        parse_params({"norms": "potvin"})


@pytest.mark.parametrize(("age", "sex"), [(None, "M"), (31.0, None)])
def test_missing_age_or_sex_is_not_assessed_on_any_grid(age: float | None, sex: str | None) -> None:
    for coarse in (False, True):
        params = AtrophyParams(assess_coarse=True)
        report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, age, sex, coarse=coarse, params=params)
        assert set(_evaluations(report).values()) == {"Not Evaluated"}
        assert {f.value for f in report.findings if f.concept == a.REASON} == {a.REASON_DEMOGRAPHICS}


def test_failed_parcellation_is_not_assessed() -> None:
    volumes = {**XA30_VOLUMES_ML, 9: 0.3}  # hippocampus below the 1.5 mL sanity limit
    report = report_regions(volumes, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert {f.value for f in report.findings if f.concept == a.REASON} == {a.REASON_QC}
    assert any(line.startswith("QC: parcellation implausible") for line in report.lines)


def test_not_assessed_reasons_accumulate() -> None:
    assert not_assessed(qc_problem=None, coarse=False, assess_coarse=False, age=60.0, sex="F") == []
    assert not_assessed(qc_problem=None, coarse=True, assess_coarse=True, age=60.0, sex="F") == []
    reasons = not_assessed(
        qc_problem="x", coarse=True, assess_coarse=False, age=None, sex="F", norms_off=True
    )
    assert [r.code for r in reasons] == [
        a.REASON_NORMS_OFF,
        a.REASON_QC,
        a.REASON_COARSE,
        a.REASON_DEMOGRAPHICS,
    ]


def test_calibration_offset_scales_the_reference() -> None:
    plain = reference.evaluate("frontal", "left", 80.0, 50.0, "F", 1450.0)
    shifted = reference.evaluate("frontal", "left", 80.0 * math.exp(0.1), 50.0, "F", 1450.0, offset=0.1)
    assert shifted.centile == pytest.approx(plain.centile) and shifted.expected_ml == pytest.approx(
        plain.expected_ml * math.exp(0.1)
    )


def test_flag_option_parsing() -> None:
    assert flag(True) is True and flag(False) is False
    assert flag("yes") and flag(" TRUE ") and flag(1)
    assert not flag("false") and not flag("0")
    with pytest.raises(ConfigError, match=r"params\.assess_coarse: expected true or false"):
        parse_params({"assess_coarse": "maybe"})


def test_assessed_and_unassessed_reports_make_valid_srs(tmp_path: Path) -> None:
    """The SR (through the shared writers) carries median, centile, z and the coded evaluation per region,
    and dciodvfy accepts it; likewise the "not evaluated" report with its coded reason."""
    from inference.dicom_out import write_outputs
    from inference.pipeline import AlgorithmInfo, LabelMap, Result
    from inference.series_reader import read_series
    from tests.inference.dicom_checks import assert_valid, roundtrip
    from tests.inference.pipeline_series import write_slices

    write_slices(tmp_path / "mr", modality="MR", frames=10)
    series = read_series(tmp_path / "mr")
    labels = np.zeros(series.pixels.shape, dtype=np.uint8)
    for region in REGIONS:
        labels[region.label - 1, 10:20, 10:20] = region.label
    label_map = LabelMap(labels=labels, segments=[r.segment() for r in REGIONS])
    algorithm = AlgorithmInfo(name="atrophy report test", version="1", parameters={})
    for age, expected in ((31.0, {"121415", "121416", "373099004"}), (None, set())):
        report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, age, "M", coarse=False)
        result = Result(label_map=label_map, measurements=report.measurements, findings=report.findings)
        sr = roundtrip(
            next(ds for ds in write_outputs(series, result, "atrophy", algorithm) if ds.Modality == "SR")
        )
        unexpected = assert_valid(sr, tmp_path)
        assert [w for w in unexpected if "99DCMNODE" not in w] == []
        codes = {
            str(item.ConceptNameCodeSequence[0].CodeValue)
            for item in _items(sr)
            if "ConceptNameCodeSequence" in item
        }
        assert expected <= codes and "121402" in codes
        assert ("NOTASSESSED" in codes) == (age is None)


def _items(ds: object) -> list:
    found = []
    for item in getattr(ds, "ContentSequence", []):
        found.append(item)
        found.extend(_items(item))
    return found


def test_registry_checks_the_params_at_start(tmp_path: Path) -> None:
    from inference.registry import check_params

    check_params("atrophy", {"atrophy_centile": 5, "norms": "brainchart"})
    with pytest.raises(ConfigError, match=r"params\.atrophy_centile: must be > 0 and <= 50"):
        check_params("atrophy", {"atrophy_centile": 75})
    with pytest.raises(ConfigError, match=r"params\.calibration: .*cannot read"):
        check_params("atrophy", {"calibration": str(tmp_path / "missing.json")})
