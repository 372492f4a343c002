"""atrophy pipeline: a site's own reference table (``params.norms_table``) in place of the built-in norms.

Fast: the regional report is computed from the volumes the pipeline measured on the Siemens XA30 3D T1 of
a healthy 31-year-old man (as in test_atrophy_assessment.py), without the networks; one test constructs
the pipeline to check that the table reaches the algorithm parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy.assessment import BELOW_RANGE, NORMALITY, Z_SCORE, Assessment
from inference.pipelines.atrophy.norms_table import NormsTable, load_norms_table
from inference.pipelines.atrophy.params import AtrophyParams
from inference.pipelines.atrophy.pipeline import NORMS_NOTE, AtrophyPipeline, report_regions
from tests.inference.test_atrophy_assessment import XA30_ICV_ML, XA30_VOLUMES_ML

SOURCE = "Site controls 2026 (n=212, 3 T MPRAGE, deepbet ICV)"
HEADER = "structure,side,sex,age_min,age_max,mean_percent_icv,sd_percent_icv"
# Lobes for men of 20-40 (occipital only for women): frontal and temporal means near the measured
# fractions (no atrophy where the built-in reference flags it), the left parietal mean well above its
# 4.18 % (atrophy where the built-in reference sees none). Occipital (men) and hippocampus: built-in.
LOBES = [
    "frontal,both,M,20,40,4.5,0.4",
    "temporal,both,both,20,40,2.6,0.3",
    "parietal,left,M,20,40,5.0,0.3",
    "parietal,right,M,20,40,4.0,0.3",
    "occipital,both,F,20,40,1.5,0.2",
]


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "norms.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _table(tmp_path: Path) -> NormsTable:
    return load_norms_table(_write(tmp_path, f"# source: {SOURCE}", HEADER, *LOBES))


def _report(table: NormsTable | None, age: float | None = 31.0, sex: str = "M") -> Assessment:
    return report_regions(
        XA30_VOLUMES_ML, XA30_ICV_ML, age, sex, coarse=False, params=AtrophyParams(norms_table=table)
    )


def _below(report: Assessment) -> dict[int, bool]:
    return {f.region or 0: f.value == BELOW_RANGE for f in report.findings if f.concept == NORMALITY}


def _references(report: Assessment) -> dict[int, str]:
    return {n.region: n.text for n in report.notes if n.region and n.text.startswith("Reference: ")}


def test_site_table_overrides_the_lobes_it_covers(tmp_path: Path) -> None:
    built_in, site = _report(None), _report(_table(tmp_path))
    # frontal, temporal, parietal (men 20-40): the site rows; occipital (men) and hippocampi: built-in.
    refs = _references(site)
    assert all(refs[label].startswith(f"Reference: site table norms.csv ({SOURCE})") for label in range(1, 7))
    assert all("site table" not in refs[label] for label in range(7, 11))
    z = (100.0 * XA30_VOLUMES_ML[5] / XA30_ICV_ML - 5.0) / 0.3
    z_left_parietal = next(m.value for m in site.measurements if m.region == 5 and m.concept == Z_SCORE)
    assert z_left_parietal == pytest.approx(z, abs=0.01) and _below(site)[5] == (z < -1.96)
    assert not _below(site)[1] and _below(built_in)[1]  # frontal: the site's mean is near the measured one
    left_occipital = next(line for line in site.lines if line.startswith("Left occipital cortex"))
    assert left_occipital == next(line for line in built_in.lines if line.startswith("Left occipital cortex"))


def test_ages_and_sexes_the_table_does_not_cover_fall_back_to_the_built_in_reference(tmp_path: Path) -> None:
    table = _table(tmp_path)
    for age, sex in ((45.0, "M"), (19.9, "F"), (40.0, "M")):  # bands are age_min <= age < age_max
        built_in, site = _report(None, age, sex), _report(table, age, sex)
        assert site.lines == built_in.lines and _below(site) == _below(built_in)
    women = _references(_report(table, 20.0, "F"))
    assert "site table" in women[3] and "site table" in women[7] and "site table" not in women[1]


def test_table_covering_every_region_and_not_assessed_subjects(tmp_path: Path) -> None:
    rows = [
        f"{s},both,both,0,120,{m},0.5"
        for s, m in (
            ("frontal", 4),
            ("temporal", 2.5),
            ("parietal", 4),
            ("occipital", 1.2),
            ("hippocampus", 0.2),
        )
    ]
    table = load_norms_table(_write(tmp_path, "# Source: synthetic", HEADER, *rows))
    report = _report(table)
    assert all(
        text.startswith("Reference: site table norms.csv (synthetic)")
        for text in _references(report).values()
    )
    assert len(_references(report)) == 10 and not any(_below(report).values())
    missing_age = _report(table, None)
    assert set(_below(missing_age).values()) == {False} and not _references(missing_age)


def test_source_column_and_the_algorithm_parameters(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER + ",source,n",
        'frontal,left,M,20,40,4.5,0.4,"Potvin et al., NeuroImage 2017",120',
        "frontal,right,M,20,40,4.4,0.4,Site controls,80",
        "# a comment line",
        "",
        "Temporal,LEFT,m,20,40,2.6,0.3,Site controls,80",
    )
    table = load_norms_table(path)
    assert table.sources == ("Potvin et al., NeuroImage 2017", "Site controls")
    assert (
        table.row_for("temporal", "left", "M", 30.0) is not None
        and table.row_for("temporal", "right", "M", 30.0) is None
    )
    pipeline = AtrophyPipeline({"params": {"norms_table": str(path), "brain_extractor": "mindgrab"}})
    assert pipeline.algorithm.parameters["norms"] == (
        "site table norms.csv (Potvin et al., NeuroImage 2017; Site controls) where it covers the subject;"
        f" otherwise built-in: {NORMS_NOTE}"
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["# source: x", HEADER, "frontal,both,M,20,40,4.5,0.4", "insula,left,M,20,40,1,0.1"],
            r"line 4: unknown structure 'insula' \(expected frontal \| temporal",
        ),
        (
            ["# source: x", HEADER, "frontal,both,M,20,40,4.5,0.4", "frontal,right,both,35,60,4.4,0.4"],
            r"line 4: age band \[35, 60\) of frontal right M overlaps \[20, 40\) on line 3",
        ),
        (
            ["# source: x", HEADER, "frontal,left,M,40,60,4.5,0.4", "# c", "frontal,left,M,20,41,4.4,0.4"],
            r"line 5: age band \[20, 41\) of frontal left M overlaps \[40, 60\) on line 3",
        ),
        (
            ["# source: x", HEADER, "hippocampus,left,F,20,40,0.3,0"],
            r"line 3: sd_percent_icv must be > 0, got 0",
        ),
        (["# source: x", HEADER, "hippocampus,left,F,20,40,0.3,-0.1"], r"line 3: sd_percent_icv must be > 0"),
        (
            [
                "# source: x",
                "structure,side,sex,age_min,age_max,mean_percent_icv",
                "frontal,left,M,20,40,4.5",
            ],
            r"line 2: missing column\(s\) sd_percent_icv",
        ),
        ([HEADER, "frontal,left,M,20,40,4.5,0.4"], r"line 1: no source: the first line must be '# source:"),
        (
            ["# source:   ", HEADER, "frontal,left,M,20,40,4.5,0.4"],
            r"line 1: the '# source:' line names no source",
        ),
        (
            [HEADER + ",source", "frontal,left,M,20,40,4.5,0.4,ok", "frontal,right,M,20,40,4.5,0.4,"],
            r"line 3: no source: empty source cell",
        ),
        (["# source: x", HEADER, "frontal,middle,M,20,40,4.5,0.4"], r"line 3: unknown side 'middle'"),
        (["# source: x", HEADER, "frontal,left,X,20,40,4.5,0.4"], r"line 3: unknown sex 'X'"),
        (
            ["# source: x", HEADER, "frontal,left,M,forty,60,4.5,0.4"],
            r"line 3: age_min 'forty' is not a number",
        ),
        (["# source: x", HEADER, "frontal,left,M,60,40,4.5,0.4"], r"line 3: age band \[60, 40\) is empty"),
        (["# source: x", HEADER, "frontal,left,M,20,40,0,0.4"], r"line 3: mean_percent_icv must be > 0"),
        (["# source: x", HEADER, "frontal,left,M,20,40,4.5"], r"line 3: empty sd_percent_icv"),
        (["# source: x", HEADER], r"norms\.csv: no data rows"),
    ],
)
def test_bad_tables_name_the_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = _write(tmp_path, *lines)
    with pytest.raises(ConfigError, match=r"^pipelines\.atrophy\.params\.norms_table: .*norms\.csv") as error:
        load_norms_table(path)
    assert str(path) in str(error.value)
    assert error.match(message)


def test_a_bad_table_fails_when_the_pipeline_is_constructed(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    with pytest.raises(ConfigError, match=r"absent\.csv: cannot be read"):
        AtrophyPipeline({"params": {"norms_table": str(missing)}})
    bad = _write(tmp_path, "# source: x", HEADER, "frontal,left,M,20,40,4.5,-1")
    with pytest.raises(ConfigError, match=r"norms\.csv, line 3: sd_percent_icv must be > 0"):
        AtrophyPipeline({"params": {"norms_table": str(bad)}})


def test_the_node_refuses_to_start_with_a_bad_table(tmp_path: Path) -> None:
    """The table is checked when the node starts (no model loaded), not at the first atrophy job."""
    from dicom_node.node import check_pipelines
    from tests.support.node import make_config

    bad = _write(tmp_path, "# source: x", HEADER, "frontal,left,M,20,40,4.5,-1")
    config = make_config(tmp_path, pipelines={"atrophy": {"params": {"norms_table": str(bad)}}})
    with pytest.raises(ConfigError, match=r"norms\.csv, line 3: sd_percent_icv must be > 0"):
        check_pipelines(config)
    good = _write(tmp_path, "# source: x", HEADER, "frontal,left,M,20,40,4.5,0.4")
    check_pipelines(make_config(tmp_path, pipelines={"atrophy": {"params": {"norms_table": str(good)}}}))
