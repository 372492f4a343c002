"""atrophy pipeline: a site's own reference table (``params.norms_table``) in place of the built-in norms.

Fast: the regional report is computed from the volumes the pipeline measured on the Siemens XA30 3D T1 of
a healthy 31-year-old man (as in test_atrophy_assessment.py), without the networks; one test constructs
the pipeline to check that the table reaches the algorithm parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import norms
from inference.pipelines.atrophy.norms_table import NormsTable, load_norms_table
from inference.pipelines.atrophy.pipeline import (
    ATROPHY,
    PRESENT,
    AtrophyPipeline,
    RegionalReport,
    norms_note,
    report_regions,
)
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


def _codes(report: RegionalReport) -> list[str]:
    return next(line for line in report.lines if line.startswith("Annotation codes")).split(": ")[1].split()


def _flags(report: RegionalReport) -> dict[int, bool]:
    return {f.region or 0: f.value == PRESENT for f in report.findings if f.concept == ATROPHY}


def test_site_table_overrides_the_lobes_it_covers(tmp_path: Path) -> None:
    built_in = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert _codes(built_in) == ["11", "21", "31", "41", "50", "60", "71", "81", "91", "101"]
    site = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False, norms_table=_table(tmp_path))
    # frontal, temporal: no atrophy now; left parietal: atrophy now; occipital (men) and hippocampi:
    # the built-in reference, unchanged.
    assert _codes(site) == ["10", "20", "30", "40", "51", "60", "71", "81", "91", "101"]
    assert _flags(site) == {
        1: False,
        2: False,
        3: False,
        4: False,
        5: True,
        6: False,
        7: True,
        8: True,
        9: True,
        10: True,
    }
    left_parietal = next(line for line in site.lines if line.startswith("Left parietal cortex"))
    z = (100.0 * XA30_VOLUMES_ML[5] / XA30_ICV_ML - 5.0) / 0.3
    assert (
        left_parietal.endswith(f"(site table: expected 5.00 %, z {z:+.1f}: atrophy)") and z < norms.Z_CUTOFF
    )
    left_occipital = next(line for line in site.lines if line.startswith("Left occipital cortex"))
    assert left_occipital == next(line for line in built_in.lines if line.startswith("Left occipital cortex"))


def test_summary_names_the_source_and_the_regions_left_on_the_built_in_reference(tmp_path: Path) -> None:
    site = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False, norms_table=_table(tmp_path))
    covered, fallback = site.reference.split("; built-in for ", 1)
    assert covered.startswith(
        f"site table norms.csv ({SOURCE}) for Left frontal cortex, Right frontal cortex"
    )
    assert "Right parietal cortex" in covered and "occipital" not in covered and "hippocampus" not in covered
    assert fallback == (
        "Left occipital cortex, Right occipital cortex, Left hippocampus, Right hippocampus: "
        + norms.SOURCE_NOTE
    )
    without = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False)
    assert without.reference == norms.SOURCE_NOTE  # no table: the summary line is as before


def test_ages_and_sexes_the_table_does_not_cover_fall_back_to_the_built_in_reference(tmp_path: Path) -> None:
    table = _table(tmp_path)
    for age, sex in ((45.0, "M"), (19.9, "F"), (40.0, "M")):  # bands are age_min <= age < age_max
        built_in = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, age, sex, coarse=False)
        site = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, age, sex, coarse=False, norms_table=table)
        assert site.lines == built_in.lines and _flags(site) == _flags(built_in)
        assert (
            site.reference.startswith("site table norms.csv (")
            and "covers no region at this age and sex" in site.reference
        )
    women = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 20.0, "F", coarse=False, norms_table=table)
    assert (
        "Left temporal cortex, Right temporal cortex, Left occipital cortex" in women.reference
    )  # sex both, F
    assert "frontal" not in women.reference.split("; built-in for ")[0]


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
    report = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, 31.0, "M", coarse=False, norms_table=table)
    assert report.reference == "site table norms.csv (synthetic) for all 10 regions"
    assert not any(_flags(report).values())
    missing_age = report_regions(XA30_VOLUMES_ML, XA30_ICV_ML, None, "M", coarse=False, norms_table=table)
    assert _flags(missing_age) == {}
    assert missing_age.reference == norms_note(table, built_in=norms.SOURCE_NOTE)


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
        " otherwise built-in: hippocampus: CentileBrain (Ge 2024), brain-mask ICV as eTIV; lobar cortex:"
        " approximate, unverified"
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
