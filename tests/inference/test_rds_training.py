"""`dicom-node train rds` (a few steps, phantom + a real PNG) -> a loadable bundle; `evaluate rds` tables."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dicom_node.cli import main
from inference.pipelines.rds.bundle_io import load_model
from inference.pipelines.rds.dataset import load_dataset
from inference.pipelines.rds.phantom import write_training_set
from tests.inference.bundle_checks import assert_written_by_the_writer

NIH_PNG = Path(__file__).resolve().parents[1] / "data" / "cxr" / "torchxrayvision" / "00000001_000.png"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_training_set(tmp_path_factory.mktemp("rds") / "data", count=8, seed=2, size=96)
    # a real adult PNG (no mask) through the PNG path, labelled for the classifier only
    shutil.copy(NIH_PNG, folder / "images" / NIH_PNG.name)
    shutil.copy(NIH_PNG.parent / "LICENSE", folder / "LICENSE")  # its licence goes into the bundle
    with (folder / "labels.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow([NIH_PNG.stem, "normal"])
    return folder


@pytest.fixture(scope="module")
def bundle(data: Path) -> Path:
    out = data.parent / "bundle"
    argv = ["train", "rds", str(data), "--out", str(out), "--size", "64", "--variant", "b0-small"]
    argv += [
        "--seg-epochs",
        "1",
        "--cls-epochs",
        "1",
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--demonstration",
    ]
    assert main(argv) == 0
    return out


def test_generator_writes_the_documented_layout(data: Path) -> None:
    samples = load_dataset(data, 64)
    assert len(samples) == 9
    phantom = [s for s in samples if s.name.startswith("phantom")]
    assert all(s.labels is not None and s.rds is not None for s in phantom)
    assert all(set(np.unique(s.labels).tolist()) <= {0, 1, 2} for s in phantom if s.labels is not None)
    nih = next(s for s in samples if s.name == NIH_PNG.stem)
    assert nih.labels is None and nih.rds is False and nih.image.shape == (64, 64)


def test_train_writes_a_loadable_demonstration_bundle(bundle: Path) -> None:
    metadata = assert_written_by_the_writer(bundle)
    licence = (NIH_PNG.parent / "LICENSE").read_text().strip()
    assert (bundle / "docs" / "data_license.txt").read_text().strip() == licence
    assert metadata["demonstration"] is True and "demonstration" in metadata["name"].lower()
    assert metadata["rds"]["working_size"] == 64 and metadata["training"]["seed"] == 0
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert inference["network_def"]["_target_"] == "monai.networks.nets.UNet"
    assert inference["classifier_def"]["_target_"].startswith("monai.networks.nets.EfficientNet")
    model, loaded = load_model(bundle, "cpu")
    assert loaded["version"] == metadata["version"]
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    labels = model.predict_labels(image)
    assert labels.shape == (64, 64) and set(np.unique(labels).tolist()) <= {0, 1, 2}
    result = model.classify(model.classifier_input(image, model.segment(image)))
    assert 0.0 <= result.probability <= 1.0 and result.heat_map.shape == (64, 64)


def test_train_refuses_a_folder_without_masks(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    shutil.copy(NIH_PNG, tmp_path / "images" / NIH_PNG.name)
    (tmp_path / "labels.csv").write_text(f"image,rds\n{NIH_PNG.stem},0\n")
    assert main(["train", "rds", str(tmp_path), "--out", str(tmp_path / "b"), "--max-steps", "1"]) != 0


def test_evaluate_prints_the_papers_two_tables(
    bundle: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "rds", str(data), "--bundle", str(bundle), "--bundle", str(bundle)]) == 0
    text = capsys.readouterr().out
    assert "Table 1" in text and "Table 2" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("UNet")]
    assert [row[1:3] for row in rows] == [["x", "x"], ["o", "x"], ["o", "o"]]
    assert all(0.0 <= float(row[3]) <= 1.0 for row in rows)
    accuracies = [line.split() for line in text.splitlines() if line.startswith("EfficientNet")]
    assert len(accuracies) == 2 and all(row[-2] == "9" and 0.0 <= float(row[-1]) <= 1.0 for row in accuracies)


def test_batch_norm_statistics_are_recomputed_after_training() -> None:
    import torch

    from inference.pipelines.rds.training import recalibrate_batch_norm

    convolution = torch.nn.Conv2d(1, 1, 1, bias=False)
    norm = torch.nn.BatchNorm2d(1, momentum=0.01)
    network = torch.nn.Sequential(convolution, norm)
    torch.nn.init.ones_(convolution.weight)
    inputs = torch.full((6, 1, 4, 4), 3.0) + torch.arange(6.0).reshape(6, 1, 1, 1)
    recalibrate_batch_norm(network, inputs, batch_size=2)
    assert norm.running_mean is not None
    assert not network.training
    assert abs(float(norm.running_mean[0]) - float(inputs.mean())) < 1e-4  # not 0.01 of the way there
    assert norm.momentum == 0.01


def test_full_efficientnet_b0_variant_builds_and_gives_a_grad_cam() -> None:
    import torch

    from inference.pipelines.rds.model import RdsModel, RdsSettings
    from inference.pipelines.rds.networks import classifier_config, instantiate, unet_config

    classifier = instantiate(classifier_config("b0", 64))
    assert type(classifier).__name__ == "EfficientNetBN"
    model = RdsModel(instantiate(unet_config()), classifier, RdsSettings(working_size=64, variant="b0"))
    torch.manual_seed(0)
    image = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    result = model.classify(image)
    assert result.heat_map.shape == (64, 64) and 0.0 <= result.probability <= 1.0
