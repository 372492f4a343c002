"""atrophy pipeline, fast parts: TensorFlow.js loader, shipped bundles, region table, norms, conform."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dicom_node.errors import InputError
from inference.pipelines.atrophy import norms
from inference.pipelines.atrophy.conform import Grid, conform, conformed_grid, resample
from inference.pipelines.atrophy.intensity import correct_bias, sharpen
from inference.pipelines.atrophy.meshnet import MeshNet, read_spec, read_weights, state_dict_from_tfjs
from inference.pipelines.atrophy.pipeline import is_coarse
from inference.pipelines.atrophy.regions import DK_PARCELS, LOBES, REGIONS, UNASSIGNED, group_labels
from inference.pipelines.atrophy.segment import BUNDLE_ROOT

DATA = Path(__file__).resolve().parents[1] / "data" / "brainchop" / "models"
MODELS = {"brain_extraction": DATA / "mindgrab", "parcellation": DATA / "model21_104class"}


def _manifest(model_json: Path) -> list[dict[str, object]]:
    document = json.loads(model_json.read_text())
    return [w for group in document["weightsManifest"] for w in group["weights"]]


@pytest.mark.parametrize("bundle", sorted(MODELS))
def test_loader_reads_every_weight_of_the_manifest(bundle: str) -> None:
    model_json = MODELS[bundle] / "model.json"
    manifest = _manifest(model_json)
    weights = read_weights(model_json)
    assert [w["name"] for w in manifest] == list(weights)
    for entry in manifest:
        assert list(weights[str(entry["name"])].shape) == entry["shape"]
    spec, state = state_dict_from_tfjs(model_json)
    network = spec.build()
    network.load_state_dict(state)  # strict: every parameter present, none left over
    expected = sum(int(np.prod(w["shape"])) for w in manifest)  # type: ignore[call-overload]
    assert sum(p.numel() for p in network.parameters()) == expected


def test_mindgrab_spec_has_instance_norm_and_gelu() -> None:
    spec, _ = read_spec(MODELS["brain_extraction"] / "model.json")
    assert (spec.channels, spec.out_channels, len(spec.dilations)) == (15, 2, 25)
    assert spec.dilations[:5] == (16, 8, 4, 2, 1)
    assert spec.instance_norm and spec.activation == "gelu" and not spec.conv_bias


def test_parcellation_spec_is_plain_relu_meshnet() -> None:
    spec, _ = read_spec(MODELS["parcellation"] / "model.json")
    assert (spec.channels, spec.out_channels) == (21, 104)
    assert spec.dilations == (1, 2, 2, 4, 4, 8, 8, 16)
    assert not spec.instance_norm and spec.activation == "relu" and spec.conv_bias


@pytest.mark.parametrize("bundle", sorted(MODELS))
def test_shipped_bundle_equals_the_original_weights(bundle: str) -> None:
    _, state = state_dict_from_tfjs(MODELS[bundle] / "model.json")
    shipped = torch.load(BUNDLE_ROOT / bundle / "models" / "model.pt", weights_only=True)
    assert sorted(shipped) == sorted(state)
    for key, value in state.items():
        assert torch.equal(shipped[key], value), key
    metadata = json.loads((BUNDLE_ROOT / bundle / "configs" / "metadata.json").read_text())
    assert metadata["license"] == "MIT" and metadata["demonstration_weights"] is True
    assert (BUNDLE_ROOT / "LICENSE").is_file()


def test_keras_kernel_layout_matches_a_reference_convolution() -> None:
    """One weight of the first layer, applied by hand, equals the torch layer (no axis flipped)."""
    _, state = state_dict_from_tfjs(MODELS["parcellation"] / "model.json")
    kernel = read_weights(MODELS["parcellation"] / "model.json")["19/kernel"]  # (d, h, w, in, out)
    x = torch.zeros(1, 1, 5, 5, 5)
    x[0, 0, 2, 2, 3] = 1.0  # an impulse one voxel along W from the centre
    out = F.conv3d(x, state["convs.0.weight"], padding=1)
    # Keras correlation: out[c] at centre = sum kernel[a, b, e, 0, c] * x[2 + a - 1, 2 + b - 1, 2 + e - 1]
    assert np.allclose(out[0, :, 2, 2, 2].numpy(), kernel[1, 1, 2, 0, :], atol=1e-6)


def test_instance_norm_and_chunked_head_equal_the_plain_computation() -> None:
    torch.manual_seed(0)
    net = MeshNet(channels=4, dilations=(1, 2), out_channels=7, activation="gelu", instance_norm=True).eval()
    x = torch.rand(1, 1, 12, 10, 9)
    with torch.inference_mode():
        h = x
        for conv in net.convs:
            h = F.gelu(F.instance_norm(conv(h), eps=1e-5))
        expected = net.head(h).argmax(dim=1).to(torch.uint8)
        assert torch.equal(net.predict_labels(x, slab=5), expected)
        assert net(x).shape == (1, 7, 12, 10, 9)


def test_loader_refuses_a_model_that_is_not_a_meshnet(tmp_path: Path) -> None:
    document = json.loads((MODELS["parcellation"] / "model.json").read_text())
    layers = document["modelTopology"]["model_config"]["config"]["layers"]
    layers[1]["config"]["strides"] = [2, 2, 2]
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(InputError, match="stride"):
        read_spec(tmp_path / "model.json")


def test_regions_are_the_papers_ten_with_their_codes() -> None:
    assert [r.label for r in REGIONS] == list(range(1, 11))
    assert [r.name for r in REGIONS[:2]] == ["Left frontal cortex", "Right frontal cortex"]
    assert [r.name for r in REGIONS[-2:]] == ["Left hippocampus", "Right hippocampus"]
    assert REGIONS[0].code(True) == 11 and REGIONS[1].code(True) == 21 and REGIONS[8].code(False) == 90
    assert REGIONS[9].code(False) == 100 and REGIONS[9].code(True) == 101
    segments = [r.segment() for r in REGIONS]
    assert {s.type.value for s in segments} == {"83251001", "78277001", "16630005", "31065004", "5366008"}
    assert [s.laterality.meaning for s in segments if s.laterality] == ["Left", "Right"] * 5


def test_every_dkt_parcel_but_the_insula_is_in_exactly_one_lobe() -> None:
    grouped = [p for parcels in LOBES.values() for p in parcels]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) | set(UNASSIGNED) == set(DK_PARCELS)
    parcellation = np.arange(104, dtype=np.uint8)
    regions = group_labels(parcellation)
    left = {int(regions[1 + i]) for i in range(34)}
    right = {int(regions[35 + i]) for i in range(34)}
    assert left == {0, 1, 3, 5, 7} and right == {0, 2, 4, 6, 8}
    assert regions[77] == 9 and regions[78] == 10 and regions[85] == 0  # hippocampi; white matter is none
    assert np.array_equal(regions[1:35] > 0, regions[35:69] > 0)  # same parcels on both sides


def test_norms_parse_age_and_flag_low_fractions() -> None:
    assert norms.parse_age("067Y") == 67 and norms.parse_age("018M") == 1.5 and norms.parse_age("") is None
    assert norms.parse_sex("F") == "F" and norms.parse_sex("O") is None
    assert norms.expected_percent("hippocampus", 80, "M") < norms.expected_percent("hippocampus", 60, "M")
    expected = norms.expected_percent("hippocampus", 70, "F")
    assert not norms.assess("hippocampus", expected, 70, "F").atrophy
    assert norms.assess("hippocampus", 0.7 * expected, 70, "F").atrophy
    assert set(norms.NORMS) == {"hippocampus"}


def test_conform_and_back_keeps_labels_and_orientation() -> None:
    """A 1 mm axial (LPS) source: conform → LIA grid, labels back with nearest neighbour are unchanged."""
    affine = np.eye(4)
    affine[:3, 3] = (-40.0, -50.0, -30.0)
    source = Grid((80, 100, 60), affine)
    labels = np.zeros(source.shape, dtype=np.uint8)
    labels[50:70, 20:40, 10:30] = 3  # towards the patient's left (+x), anterior (low y), inferior (low z)
    conformed, grid = conform(labels.astype(np.float32), source)
    assert conformed.shape == (256, 256, 256) and grid.shape == (256, 256, 256)
    assert np.allclose(grid.affine[:3, :3], conformed_grid(source).affine[:3, :3])
    on_grid = resample(labels, source, grid, labels=True)
    assert int((on_grid == 3).sum()) == int((labels == 3).sum())  # 1 mm to 1 mm: same voxel count
    centre = np.argwhere(on_grid == 3).mean(axis=0)
    middle = np.argwhere(resample(np.ones_like(labels), source, grid, labels=True)).mean(axis=0)
    # LIA: i grows to the left, j to inferior, k to anterior
    assert centre[0] > middle[0] and centre[1] > middle[1] and centre[2] > middle[2]
    back = resample(on_grid, grid, source, labels=True)
    assert np.array_equal(back, labels)


def _sphere_phantom() -> tuple[np.ndarray, np.ndarray]:
    """A 'brain' ball: white matter core (120) in grey matter (70), on a 72^3 1 mm grid."""
    z, y, x = np.mgrid[:72, :72, :72].astype(np.float32) - 35.5
    radius = np.sqrt(x * x + y * y + z * z)
    brain = radius < 30
    volume = np.where(radius < 20, 120.0, np.where(brain, 70.0, 0.0)).astype(np.float32)
    return volume, brain


def test_n4_removes_a_smooth_coil_bias_inside_the_brain() -> None:
    volume, brain = _sphere_phantom()
    ramp = np.linspace(0.5, 1.5, volume.shape[0], dtype=np.float32)[:, None, None]  # 3x across the head
    biased = volume * ramp
    core = np.zeros_like(brain)
    core[20:52, 20:52, 20:52] = True
    core &= volume == 120.0  # white matter only
    before = float(biased[core].std() / biased[core].mean())
    corrected = correct_bias(biased, brain)
    after = float(corrected[core].std() / corrected[core].mean())
    assert before > 0.1 and after < before / 4, (before, after)
    assert np.array_equal(corrected[:, :, :2], biased[:, :, :2])  # far from the brain: untouched


def test_coarse_sources_are_sharpened_and_1_mm_ones_are_not() -> None:
    volume, brain = _sphere_phantom()
    sharp = sharpen(volume, brain)
    edge = (slice(35, 37), slice(35, 37), slice(56, 58))  # grey matter just outside the white matter core
    assert sharp[edge].min() < volume[edge].min() and sharp.min() >= 0.0
    two_mm = Grid((128, 128, 96), np.diag([2.0, 2.0, 2.0, 1.0]))
    one_mm = Grid((256, 256, 176), np.diag([1.0, 1.0, 1.0, 1.0]))
    assert is_coarse(two_mm) and not is_coarse(one_mm)
