"""Configuration: one typed model; a bad key or value stops the start naming its path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicom_node.config import build_config, load_config
from dicom_node.errors import ConfigError
from dicom_node.node import check_pipelines


def test_embedded_defaults_run_on_one_machine() -> None:
    config = build_config({}, environ={})
    assert config.node.ae_title == "AI_NODE"
    assert config.node.port == 11112
    assert config.storage.database_url.startswith("sqlite:///")
    assert config.series.complete_after_s == 30
    assert config.series.late_instances == "reprocess"
    assert config.execution.backend == "local"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"node": {"prot": 1}}, "node.prot: Extra inputs are not permitted"),
        ({"node": {"port": 70000}}, "node.port"),
        ({"node": {"ae_title": "A" * 17}}, "node.ae_title"),
        ({"series": {"late_instances": "drop"}}, "series.late_instances"),
        ({"rules": [{"name": "r", "match": {"Modality": "CT"}}]}, "a rule needs an action"),
        (
            {"rules": [{"name": "r", "match": {"Modality": "CT"}, "send_to": ["nowhere"]}]},
            "unknown destination",
        ),
        ({"rules": [{"name": "r", "match": {"NotAKeyword": 1}, "discard": True}]}, "NotAKeyword"),
        ({"rules": [{"name": "r", "match": {"Modality": {"regex": "("}}, "discard": True}]}, "invalid regex"),
        (
            {"rules": [{"name": "r", "match": {"Modality": {"bogus": 1}}, "discard": True}]},
            "unknown operator",
        ),
        (
            {"rules": [{"name": "r", "match": {"SliceThickness": {"gt": "x"}}, "discard": True}]},
            "must be a number",
        ),
        (
            {"rules": [{"name": "r", "discard": True}, {"name": "r", "discard": True}]},
            "duplicate rule name",
        ),
        (
            {
                "rules": [
                    {"name": "a", "fallback": True, "discard": True},
                    {"name": "b", "fallback": True, "discard": True},
                ]
            },
            "at most one rule may be fallback",
        ),
        ({"rules": [{"name": "r", "anonymize": "nope", "send_to": []}]}, "rules.0"),
        (
            {
                "rules": [
                    {"name": "r", "pipeline": "qc", "deidentify": "x", "priors": {"archive": "pacs"}},
                ]
            },
            "priors cannot be combined with deidentify",
        ),
    ],
)
def test_bad_configuration_names_the_key(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(data, environ={})
    assert fragment in str(info.value)


def test_environment_overrides_single_keys() -> None:
    config = build_config(
        {"node": {"port": 104}},
        environ={
            "DICOM_NODE__NODE__PORT": "11113",
            "DICOM_NODE__NODE__ALLOWED_CALLING_AETS": "[CT1@10.0.0.5, MR1]",
        },
    )
    assert config.node.port == 11113
    assert [(p.ae_title, p.host) for p in config.node.allowed_calling_aets] == [
        ("CT1", "10.0.0.5"),
        ("MR1", None),
    ]


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match="not found"):
        load_config(missing, environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("node: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken, environ={})


def test_unknown_pipeline_is_a_config_error_at_start() -> None:
    config = build_config(
        {
            "destinations": {"pacs": {"host": "127.0.0.1", "port": 104, "ae_title": "PACS"}},
            "rules": [
                {"name": "ai", "match": {"Modality": "CT"}, "pipeline": "no-such-model", "send_to": ["pacs"]}
            ],
        },
        environ={},
    )
    with pytest.raises(ConfigError, match=r"rules\[0\] \(ai\)\.pipeline: unknown pipeline 'no-such-model'"):
        check_pipelines(config)
