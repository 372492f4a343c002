"""The one bundle writer: MONAI layout and metadata, versions from the installed libraries, read back by
the one reader; the atrophy converter and the RDS lung installer go through it too.

The trainers' own tests (rds, fmri, atrophy head, dermatitis) check their written bundles with
:func:`tests.inference.bundle_checks.assert_written_by_the_writer`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle.utils import DEFAULT_METADATA
from monai.config.deviceconfig import get_config_values

from dicom_node.errors import InputError
from inference.bundle import (
    SCHEMA_URL,
    TENSOR_KEYS,
    BundleCard,
    Expectation,
    load_bundle,
    read_metadata,
    write_bundle,
)
from inference.pipelines.atrophy import convert
from inference.pipelines.atrophy.segment import BUNDLE_ROOT
from inference.pipelines.rds import ship_lungs
from inference.pipelines.rds.bundle_io import SHIPPED_BUNDLE, load_model
from tests.inference.bundle_checks import assert_written_by_the_writer, installed

BRAINCHOP = Path(__file__).resolve().parents[1] / "data" / "brainchop" / "models"
TENSOR = {"type": "tensor", "format": "magnitude", "spatial_shape": [], "dtype": "float32", "value_range": []}
LINEAR = {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 2}


def card(**changes: object) -> BundleCard:
    fields: dict[str, object] = {
        "name": "tiny linear",
        "version": "0.0.1",
        "task": "test",
        "description": "a 4 -> 2 linear layer",
        "inputs": {"x": {**TENSOR, "num_channels": 4}},
        "outputs": {"y": {**TENSOR, "num_channels": 2}},
        "licence": "test licence",
        "data_source": "nothing",
        "data_licence": "CC0 test data",
    }
    fields.update(changes)
    return BundleCard(**fields)  # type: ignore[arg-type]


def test_written_bundle_has_the_monai_layout_and_loads_back_with_its_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = torch.nn.Linear(4, 2)
    out = write_bundle(
        tmp_path / "b", card(), configs={"inference": {"network_def": LINEAR}}, weights=network.state_dict()
    )
    metadata = assert_written_by_the_writer(out)
    assert metadata["schema"] == SCHEMA_URL and metadata["data_source"] == "nothing"
    assert (out / "docs" / "data_license.txt").read_text().strip() == "CC0 test data"
    assert (out / "LICENSE").read_text().strip() == "test licence"
    loaded = load_bundle(out, device="cpu", expect=Expectation(input_channels=4, output_channels=2))
    x = torch.rand(3, 4)
    assert torch.equal(loaded.predict(x), network(x).detach())


def test_versions_are_the_installed_libraries_as_monai_itself_derives_them(tmp_path: Path) -> None:
    weights = torch.nn.Linear(4, 2).state_dict()
    out = write_bundle(
        tmp_path / "b", card(), configs={"inference": {"network_def": LINEAR}}, weights=weights
    )
    metadata = read_metadata(out)
    import monai

    assert metadata["monai_version"] == monai.__version__ == installed("monai")
    assert metadata["numpy_version"] == np.__version__
    assert metadata["pytorch_version"] == torch.__version__.split("+")[0]
    # MONAI's own template derives the same values (monai.config.deviceconfig)
    values = get_config_values()
    assert metadata["monai_version"] == values["MONAI"]
    assert metadata["pytorch_version"] == str(values["Pytorch"]).split("+")[0]
    assert metadata["numpy_version"] == values["Numpy"]


def test_guard_monai_metadata_template_is_the_one_the_writer_targets() -> None:
    """Fails when MONAI changes its bundle metadata template: then check SCHEMA_URL and TENSOR_KEYS
    against the new schema and update the writer (inference/bundle/writer.py)."""
    assert set(DEFAULT_METADATA) == {
        "version",
        "changelog",
        "monai_version",
        "pytorch_version",
        "numpy_version",
        "required_packages_version",
        "task",
        "description",
        "authors",
        "copyright",
        "network_data_format",
    }
    assert SCHEMA_URL.endswith("meta_schema_20240725.json")
    assert TENSOR_KEYS == ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"inputs": {"x": {"type": "tensor", "num_channels": 4}}}, "inputs.x needs"),
        (
            {"outputs": {"y": {**TENSOR, "num_channels": 2, "value_range": ["z-score"]}}},
            "numeric value_range",
        ),
        ({"outputs": {"y": {**TENSOR, "num_channels": 2, "channel_def": "text"}}}, "channel_def mapping"),
        ({"blocks": {"monai_version": "0.1"}}, "blocks may not set"),
    ],
)
def test_writer_refuses_metadata_monai_would_not_accept(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_bundle(
            tmp_path / "b", card(**changes), configs={"inference": {"network_def": LINEAR}}, weights={}
        )
    assert not (tmp_path / "b").exists()


def test_writer_refuses_a_bundle_without_network_def(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="network_def"):
        write_bundle(tmp_path / "b", card(), configs={"inference": {}}, weights={})


def test_writer_refuses_weights_the_reader_could_not_load(tmp_path: Path) -> None:
    weights = torch.nn.Linear(3, 2).state_dict()  # network_def is a 4 -> 2 layer
    with pytest.raises(InputError, match=r"(?s)cannot build 'network_def'.*size mismatch"):
        write_bundle(tmp_path / "b", card(), configs={"inference": {"network_def": LINEAR}}, weights=weights)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atrophy")
    assert convert.main([str(BRAINCHOP), str(out)]) == 0
    return out


@pytest.mark.parametrize(("folder", "classes"), [("brain_extraction", 2), ("parcellation", 104)])
def test_converter_rebuilds_the_shipped_bundles_through_the_writer(
    converted: Path, folder: str, classes: int
) -> None:
    bundle = converted / folder
    metadata = assert_written_by_the_writer(bundle)
    shipped = json.loads((BUNDLE_ROOT / folder / "configs" / "metadata.json").read_text())
    derived = {"monai_version", "pytorch_version"}
    for key, value in shipped.items():
        if key not in derived and key != "network_data_format":
            assert metadata[key] == value, key
    produced = metadata["network_data_format"]
    assert produced["inputs"] == shipped["network_data_format"]["inputs"]
    labels = json.loads((BUNDLE_ROOT / folder / "configs" / "labels.json").read_text())["labels"]
    assert list(produced["outputs"]["pred"].pop("channel_def").values()) == labels  # was a string
    assert produced["outputs"]["pred"] == {
        k: v for k, v in shipped["network_data_format"]["outputs"]["pred"].items() if k != "channel_def"
    }
    for config in ("inference.json", "labels.json"):
        assert (bundle / "configs" / config).read_text() != ""
        assert json.loads((bundle / "configs" / config).read_text()) == json.loads(
            (BUNDLE_ROOT / folder / "configs" / config).read_text()
        )
    assert "MIT License" in (bundle / "LICENSE").read_text()
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    original = torch.load(BUNDLE_ROOT / folder / "models" / "model.pt", weights_only=True)
    assert sorted(state) == sorted(original) and all(torch.equal(state[k], original[k]) for k in state)
    loaded = load_bundle(bundle, device="cpu", expect=Expectation(1, classes, 3))
    assert loaded.metadata["version"] == shipped["version"]


def test_rds_lung_installer_rewrites_a_bundle_through_the_writer(tmp_path: Path) -> None:
    bundle = tmp_path / "rds"
    shutil.copytree(SHIPPED_BUNDLE, bundle)
    weights = torch.load(SHIPPED_BUNDLE / "models" / "model.pt", weights_only=True)
    network_def = json.loads((SHIPPED_BUNDLE / "configs" / "inference.json").read_text())["network_def"]
    torch.manual_seed(3)
    state = {k: torch.rand_like(v) if v.is_floating_point() else v for k, v in weights["model"].items()}
    torch.save({"state": state, "config": network_def, "epoch": 2}, tmp_path / "best.pt")
    training = {"size": 128, "channels": network_def["channels"], "epochs": 2, "history": [{"epoch": 2}]}
    ship_lungs.install(tmp_path / "best.pt", bundle, {"peds": {"films": 1}}, training)
    metadata = assert_written_by_the_writer(bundle)
    assert metadata["lung_model"]["test_scores"] == {"peds": {"films": 1}}
    assert metadata["lung_model"]["training"]["checkpoint_epoch"] == 2
    assert metadata["rds"]["working_size"] == 128 and metadata["classifier"]["demonstration"] is True
    model, _ = load_model(bundle, "cpu")
    assert all(torch.equal(model.unet.state_dict()[k], v) for k, v in state.items())
    kept = weights["classifier"]
    assert all(torch.equal(model.classifier.state_dict()[k], v) for k, v in kept.items())
    assert (bundle / "LICENSE").read_text() == (SHIPPED_BUNDLE / "LICENSE").read_text()
