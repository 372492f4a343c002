"""MONAI bundle loading: metadata validation, load once per process, device choice, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dicom_node.errors import InputError
from inference import bundle as bundles


def make_bundle(root: Path, version: str = "0.1.0", in_channels: int = 1, out_channels: int = 2) -> Path:
    """A tiny but real bundle: a 2D conv net with random weights saved as models/model.pt."""
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    metadata = {
        "version": version,
        "name": "tiny test net",
        "monai_version": "1.6.1",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "num_channels": in_channels, "spatial_shape": [32, 32]}},
            "outputs": {"pred": {"type": "image", "num_channels": out_channels, "spatial_shape": [32, 32]}},
        },
    }
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata))
    inference = {
        "network_def": {
            "_target_": "monai.networks.nets.BasicUNet",
            "spatial_dims": 2,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "features": [4, 4, 8, 8, 16, 4],
        }
    }
    (root / "configs" / "inference.json").write_text(json.dumps(inference))
    from monai.networks.nets import BasicUNet

    torch.manual_seed(1)
    net = BasicUNet(
        spatial_dims=2, in_channels=in_channels, out_channels=out_channels, features=(4, 4, 8, 8, 16, 4)
    )
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


def test_bundle_loads_once_per_process_on_the_right_device(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b")
    before = bundles.loads_in_this_process()
    first = bundles.load_bundle(path)
    second = bundles.load_bundle(path)
    assert first is second
    assert bundles.loads_in_this_process() == before + 1
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert first.device.type == expected
    assert next(first.network.parameters()).device.type == expected
    assert not first.network.training
    assert first.version == "0.1.0"


def test_bundle_weights_are_the_saved_ones_and_output_is_deterministic(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b")
    loaded = bundles.load_bundle(path)
    saved = torch.load(path / "models" / "model.pt", weights_only=True)
    for name, value in loaded.network.state_dict().items():
        assert torch.equal(value.cpu(), saved[name])
    x = torch.linspace(0, 1, 32 * 32).reshape(1, 1, 32, 32)
    a, b = loaded.predict(x), loaded.predict(x)
    assert a.shape == (1, 2, 32, 32)
    assert torch.equal(a, b)


def test_metadata_is_validated_against_the_pipeline(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b", in_channels=1)
    with pytest.raises(InputError, match="input channels = 3"):
        bundles.load_bundle(path, expect=bundles.Expectation(input_channels=3))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "configs" / "metadata.json").write_text("{}"), "'version'"),
        (lambda p: (p / "configs" / "metadata.json").write_text("not json"), "metadata.json"),
        (lambda p: (p / "models" / "model.pt").unlink(), "weights are missing"),
        (lambda p: (p / "configs" / "inference.json").write_text('{"x": 1}'), "network_def"),
    ],
)
def test_broken_bundles_are_refused_with_a_reason(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make_bundle(tmp_path / "b")
    damage(path)
    with pytest.raises(InputError, match=message):
        bundles.load_bundle(path)


def test_missing_bundle_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        bundles.load_bundle(tmp_path / "absent")


def test_cpu_can_be_forced() -> None:
    assert bundles.select_device("cpu").type == "cpu"
    with pytest.raises(InputError):
        bundles.select_device("tpu")
