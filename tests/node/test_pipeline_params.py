"""Pipeline params are typed: a misspelt or wrongly typed key stops the start, naming its path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from dicom_node.config import build_config
from dicom_node.errors import ConfigError
from dicom_node.node import check_pipelines
from inference import registry
from inference.pipeline_params import PipelineParams
from tests.support.node import DICOM_NODE


def _write(tmp_path: Path, pipelines: dict[str, object]) -> Path:
    path = tmp_path / "node.yaml"
    rules = [{"name": name, "match": {"Modality": "MR"}, "pipeline": name} for name in pipelines]
    path.write_text(yaml.safe_dump({"rules": rules, "pipelines": pipelines}))
    return path


def _dicom_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DICOM_NODE), *args], capture_output=True, text=True, timeout=120)


def test_check_config_names_a_misspelt_fmri_key(tmp_path: Path) -> None:
    config = _write(tmp_path, {"fmri": {"params": {"motion_corection": False}}})
    result = _dicom_node("check-config", "--config", str(config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pipelines.fmri.params.motion_corection: unknown parameter of pipeline fmri" in result.stderr
    good = _write(tmp_path, {"fmri": {"params": {"motion_correction": False}}})
    result = _dicom_node("check-config", "--config", str(good))
    assert result.returncode == 0 and "pipelines used: fmri" in result.stdout, result.stderr


def test_a_misspelt_dermatitis_key_stops_serve(tmp_path: Path) -> None:
    config = _write(tmp_path, {"dermatitis": {"params": {"min_coverge": 0.3}}})
    data = yaml.safe_load(config.read_text())
    data["storage"] = {"path": str(tmp_path / "var")}
    data["node"] = {"port": 0, "bind": "127.0.0.1"}
    data["web"] = {"enabled": False}
    config.write_text(yaml.safe_dump(data))
    result = _dicom_node("serve", "--config", str(config))
    assert result.returncode == 2
    assert (
        "pipelines.dermatitis.params.min_coverge: unknown parameter of pipeline dermatitis" in result.stderr
    )


@pytest.mark.parametrize(
    ("pipeline", "params", "path"),
    [
        ("fmri", {"motion_correction": "maybe"}, "pipelines.fmri.params.motion_correction: "),
        ("fmri", {"ensemble": [12, 300]}, "pipelines.fmri.params.ensemble.1: "),
        ("dermatitis", {"tiles_short_side": "six"}, "pipelines.dermatitis.params.tiles_short_side: "),
        ("dermatitis", {"min_coverage": 2}, "pipelines.dermatitis.params.min_coverage: "),
        ("rds", {"newborn_max_days": 2.5}, "pipelines.rds.params.newborn_max_days: "),
        ("rds", {"threshold": "high"}, "pipelines.rds.params.threshold: "),
        ("atrophy", {"atrophy_centile": 75}, "pipelines.atrophy.params.atrophy_centile: "),
        ("qc", {"threshold": "otsu"}, "pipelines.qc.params.threshold: unknown parameter of pipeline qc"),
    ],
)
def test_a_wrongly_typed_key_stops_the_start_naming_it(
    pipeline: str, params: dict[str, object], path: str
) -> None:
    config = build_config({"pipelines": {pipeline: {"params": params}}}, environ={})
    with pytest.raises(ConfigError) as raised:
        check_pipelines(config)
    assert path in str(raised.value)


def test_the_pipeline_receives_the_validated_values() -> None:
    config = build_config(
        {"pipelines": {"rds": {"params": {"missing_age": " Assess", "threshold": "0.4", "min_area_px": ""}}}},
        environ={},
    )
    check_pipelines(config)
    # what the pipeline process receives: the keys given, typed and normalised; no defaults added
    assert config.pipelines["rds"].params == {"missing_age": "assess", "threshold": 0.4, "min_area_px": None}


@pytest.mark.parametrize("name", registry.names())
def test_every_pipeline_declares_a_strict_documented_params_model(name: str) -> None:
    model = registry.params_model(name)
    assert issubclass(model, PipelineParams) and model.model_config.get("extra") == "forbid"
    model()  # the defaults are valid
    for field, info in model.model_fields.items():
        assert info.description, f"{name}.{field} has no description"


def test_validating_every_pipelines_params_loads_no_heavy_library() -> None:
    from tests.house.test_light_imports import HEAVY, loaded_top_level_modules

    code = (
        "from dicom_node.config import build_config; from dicom_node.node import check_pipelines; "
        "from inference.registry import names; "
        "check_pipelines(build_config({'pipelines': {n: {'params': {}} for n in names()}}, environ={}))"
    )
    loaded = loaded_top_level_modules(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    models = "from inference.registry import names, params_model; [params_model(n)() for n in names()]"
    assert "scipy" not in loaded_top_level_modules(models)  # the models alone: pydantic only
