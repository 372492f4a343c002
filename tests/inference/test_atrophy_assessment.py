"""atrophy pipeline: when the regions get an atrophy evaluation and when they are "not assessed".

Fast: the regional report is computed from volumes, without the networks. The volumes are those the
pipeline measured on the 2 mm Siemens XA30 3D T1 of a healthy 31-year-old man (deepbet mask, see
docs/pipelines.md), where the flags came out "atrophy" in most regions.
"""

from __future__ import annotations

import pytest

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy.pipeline import (
    ATROPHY,
    PRESENT,
    RegionalReport,
    atrophy_not_assessed,
    read_flag,
    report_regions,
)
from inference.pipelines.atrophy.regions import REGIONS

XA30_ICV_ML = 1573.0
XA30_VOLUMES_ML = {1: 74.5, 2: 61.9, 3: 37.2, 4: 39.7, 5: 65.7, 6: 61.4, 7: 22.1, 8: 14.7, 9: 2.7, 10: 3.4}


def _atrophy_findings(report: RegionalReport) -> dict[int, bool]:
    return {f.region or 0: f.value == PRESENT for f in report.findings if f.concept == ATROPHY}


def test_coarse_source_is_not_assessed_by_default_but_still_measured() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=True)
    assert _atrophy_findings(report) == {}  # SR: no present/absent evaluation in any region group
    assert not any(line.startswith("Annotation codes") for line in report.lines)  # no AI-Hub codes either
    assert "Atrophy not assessed in any region: source voxels coarser than 1.5 mm" in report.lines[-1]
    assert "assess_coarse: true" in report.lines[-1]
    region_lines = [line for line in report.lines if line.split(":")[0] in {r.name for r in REGIONS}]
    assert len(region_lines) == 10 and all(line.endswith("(atrophy not assessed)") for line in region_lines)
    volumes = {m.region: m.value for m in report.measurements if m.concept.value == "118565006"}
    fractions = {m.region: m.value for m in report.measurements if m.concept.value == "113288"}
    assert volumes[None] == XA30_ICV_ML and volumes[9] == 2.7 and len(volumes) == 11
    assert fractions[10] == pytest.approx(100.0 * 3.4 / XA30_ICV_ML, abs=1e-3) and len(fractions) == 10
    assert report.qc_problem is None


def test_assess_coarse_restores_the_flags_and_says_they_are_unreliable() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=True, assess_coarse=True)
    flags = _atrophy_findings(report)
    assert sorted(flags) == list(range(1, 11))
    assert flags[9] and flags[10]  # the under-segmented hippocampi of a healthy 31-year-old: "atrophy"
    assert any("assessed anyway (assess_coarse), unreliable" in line for line in report.lines)
    codes = next(line for line in report.lines if line.startswith("Annotation codes"))
    assert codes.split()[-2:] == ["91", "101"]


def test_a_1_mm_source_is_assessed_and_gets_codes() -> None:
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert sorted(_atrophy_findings(report)) == list(range(1, 11))
    assert not any("coarser than" in line for line in report.lines)
    hippocampus = next(line for line in report.lines if line.startswith("Left hippocampus"))
    assert "expected" in hippocampus and " z " in hippocampus
    codes = next(line for line in report.lines if line.startswith("Annotation codes")).split(": ")[1]
    assert [int(code) // 10 for code in codes.split()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize(("age", "sex"), [(None, "M"), (31.0, None)])
def test_missing_age_or_sex_is_not_assessed_on_any_grid(age: float | None, sex: str | None) -> None:
    for coarse in (False, True):
        report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, age, sex, coarse=coarse, assess_coarse=True)
        assert _atrophy_findings(report) == {}
        assert report.lines[-1] == "Atrophy not assessed in any region: Patient's Age and/or Sex missing"


def test_failed_parcellation_is_not_assessed() -> None:
    volumes = {**XA30_VOLUMES_ML, 9: 0.3}  # hippocampus below the 1.5 mL sanity limit
    report = report_regions(volumes, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert _atrophy_findings(report) == {} and report.qc_problem is not None
    assert any(line.startswith("QC: parcellation implausible") for line in report.lines)


def test_not_assessed_reasons_accumulate() -> None:
    assert atrophy_not_assessed(qc_problem=None, coarse=False, assess_coarse=False, age=60.0, sex="F") == []
    assert atrophy_not_assessed(qc_problem=None, coarse=True, assess_coarse=True, age=60.0, sex="F") == []
    reasons = atrophy_not_assessed(qc_problem="x", coarse=True, assess_coarse=False, age=None, sex="F")
    assert [r.split(" ")[0] for r in reasons] == ["parcellation", "source", "Patient's"]


def test_assess_coarse_option_parsing() -> None:
    assert read_flag(True, "x") is True and read_flag(False, "x") is False
    assert read_flag("yes", "x") and read_flag(" TRUE ", "x") and read_flag(1, "x")
    assert not read_flag("false", "x") and not read_flag("0", "x")
    with pytest.raises(ConfigError, match=r"params\.assess_coarse: expected true or false"):
        read_flag("maybe", "assess_coarse")
