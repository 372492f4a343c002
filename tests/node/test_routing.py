"""Routing conditions and rule semantics (stop, fallback, missing tags never raise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydicom.dataset import Dataset

from dicom_node.config import RuleConfig
from dicom_node.routing.conditions import parse_condition
from dicom_node.routing.rules import compile_rules, evaluate
from dicom_node.samples import ct_series


@pytest.fixture
def header() -> Dataset:
    ds = Dataset()
    ds.Modality = "MR"
    ds.SeriesDescription = "DWI_T1map axial"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "FMRI", "NONE"]
    ds.SliceThickness = "2.5"
    ds.BodyPartExamined = "HEAD"
    ds.add_new(0x00191010, "LO", "SIEMENS PRIVATE")
    return ds


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"Modality": "mr"}, True),  # CS compares case-insensitively
        ({"Modality": ["CT", "MR"]}, True),
        ({"Modality": ["CT", "CR"]}, False),
        ({"SeriesDescription": "dwi_t1map axial"}, False),  # LO is case-sensitive
        ({"SeriesDescription": {"regex": "T1"}}, True),  # unanchored, as documented
        ({"SeriesDescription": {"fullmatch": "T1.*"}}, False),  # the anchored form
        ({"SeriesDescription": {"regex": "(?i)^dwi"}}, True),
        ({"ImageType": {"contains": "FMRI"}}, True),  # a member of a multi-valued element
        ({"ImageType": "PRIMARY"}, True),
        ({"SliceThickness": {"gt": 2}}, True),
        ({"SliceThickness": {"ge": 2.5, "lt": 3}}, True),
        ({"SliceThickness": {"le": 1}}, False),
        ({"PatientAge": {"gt": 60}}, False),  # missing tag: false, no exception
        ({"PatientAge": "060Y"}, False),
        ({"PatientAge": {"exists": False}}, True),
        ({"BodyPartExamined": {"exists": True}}, True),
        ({"(0019,1010)": {"contains": "SIEMENS"}}, True),  # private tag by number
        ({"00191010": "SIEMENS PRIVATE"}, True),
        ({"Modality": {"not": "CT"}}, True),
        ({"Modality": {"not": ["MR"]}}, False),
        ({"any": [{"Modality": "CT"}, {"BodyPartExamined": "HEAD"}]}, True),
        ({"all": [{"Modality": "MR"}, {"BodyPartExamined": "CHEST"}]}, False),
        (
            {"Modality": "MR", "any": [{"SeriesDescription": {"regex": "mprage"}}, {"ImageType": "FMRI"}]},
            True,
        ),
    ],
)
def test_conditions(header: Dataset, match: dict[str, object], expected: bool) -> None:
    outcome = parse_condition(match).evaluate(header)
    assert outcome.matched is expected, outcome.reason


def test_reason_shows_the_compared_value(header: Dataset) -> None:
    outcome = parse_condition({"SeriesDescription": {"regex": "T1"}}).evaluate(header)
    assert "'DWI_T1map axial'" in outcome.reason and "regex 'T1'" in outcome.reason
    missing = parse_condition({"PatientAge": {"gt": 60}}).evaluate(header)
    assert missing.reason == "PatientAge is missing"


def _rules(*specs: dict[str, object]) -> list:
    return compile_rules([RuleConfig.model_validate(spec) for spec in specs])


def test_every_matching_rule_fires_until_stop(header: Dataset) -> None:
    rules = _rules(
        {"name": "a", "match": {"Modality": "MR"}, "discard": True},
        {"name": "b", "match": {"BodyPartExamined": "HEAD"}, "discard": True, "stop": True},
        {"name": "c", "match": {"Modality": "MR"}, "discard": True},
    )
    fired = {d.rule.name: d for d in evaluate(rules, header)}
    assert fired["a"].fired and fired["b"].fired
    assert not fired["c"].fired and "stop" in fired["c"].reason


def test_fallback_fires_only_when_nothing_else_did(header: Dataset) -> None:
    rules = _rules(
        {"name": "ct", "match": {"Modality": "CT"}, "discard": True},
        {"name": "rest", "fallback": True, "discard": True},
    )
    assert [d.rule.name for d in evaluate(rules, header) if d.fired] == ["rest"]
    header.Modality = "CT"
    decisions = evaluate(rules, header)
    assert [d.rule.name for d in decisions if d.fired] == ["ct"]
    assert "another rule fired" in decisions[1].reason


def test_route_command_explains_each_rule(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", slices=2, size=16)
    config = tmp_path / "node.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "name": "ct-chest",
                        "match": {"Modality": "CT", "BodyPartExamined": "CHEST"},
                        "discard": True,
                    },
                    {"name": "mr-only", "match": {"Modality": "MR"}, "discard": True},
                ]
            }
        )
    )
    dicom_node = Path(sys.executable).with_name("dicom-node")
    result = subprocess.run(
        [str(dicom_node), "route", str(files[0].parent), "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("ct-", "mr-"))}
    assert "FIRES" in lines["ct-chest"] and "BodyPartExamined='CHEST'" in lines["ct-chest"]
    assert "no match" in lines["mr-only"] and "Modality='CT' fails equals 'MR'" in lines["mr-only"]
    bad = subprocess.run(
        [str(dicom_node), "route", str(tmp_path / "nothing")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr
