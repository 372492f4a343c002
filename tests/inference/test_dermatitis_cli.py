"""`dicom-node train dermatitis` and `dicom-node evaluate dermatitis` (tiny runs; shipped bundle)."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from dicom_node.cli import main
from inference.bundle import load_bundle
from inference.pipelines.dermatitis.pipeline import DEFAULT_BUNDLE
from inference.pipelines.dermatitis.signs import SIGNS
from tests.inference.bundle_checks import assert_written_by_the_writer


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str) -> Done:
    """Run ``dicom-node ARGS`` in this process (torch is imported once for the whole module)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Done(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Done]:
    root = tmp_path_factory.mktemp("train")
    data, out = root / "data", root / "bundle"
    done = _cli(
        "train", "dermatitis", str(data), "--out", str(out), "--write-synthetic", "60",
        "--depth", "10", "--width", "0.125", "--patch-size", "32", "--epochs", "1", "--threads", "1",
    )  # fmt: skip
    return data, out, done


def test_train_writes_a_loadable_demonstration_bundle(
    trained: tuple[Path, Path, Done],
) -> None:
    _data, out, done = trained
    assert done.returncode == 0, done.stderr
    split = next(json.loads(line) for line in done.stderr.splitlines() if '"train_split"' in line)
    assert (split["training"], split["test"], split["ratio"]) == (42, 18, "70:30")  # one structured event
    meta = assert_written_by_the_writer(out)
    assert meta["dermatitis"]["demonstration"] is True
    assert "DEMONSTRATION" in meta["name"] and "DEMONSTRATION" in meta["description"]
    assert meta["dermatitis"]["images"] == {"train": 42, "test": 18}
    bundle = load_bundle(out, device="cpu")
    import torch

    assert tuple(bundle.predict(torch.zeros(2, 3, 32, 32)).shape) == (2, 3, 4)


def test_evaluate_prints_table_3_per_model(
    trained: tuple[Path, Path, Done],
) -> None:
    data, out, _ = trained
    done = _cli(
        "evaluate",
        "dermatitis",
        str(data),
        "--bundle",
        str(out),
        "--bundle",
        str(DEFAULT_BUNDLE),
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Table 3.") and "30 % test split" in lines[0]
    assert lines[1].split() == ["CNN", "model", *(s.title for s in SIGNS)]
    rows = lines[3:]
    assert len(rows) == 2 and "ResNet-10" in rows[0] and "ResNet-18" in rows[1] and "DEMONSTRATION" in rows[1]
    for row in rows:
        values = [float(v) for v in row.split()[-3:]]
        assert all(0.0 <= v <= 100.0 for v in values)


def test_shipped_demonstration_weights_grade_synthetic_crops_well(tmp_path: Path) -> None:
    from inference.pipelines.dermatitis import dataset, training

    items = dataset.read_items(dataset.write_synthetic(tmp_path, 80, seed=123, size=64))
    bundle = load_bundle(DEFAULT_BUNDLE, device="cpu")
    images, labels = dataset.load_images(items, 64)
    scores = training.accuracy(training.predict(bundle.network, images), labels)
    assert all(value is not None and value > 0.6 for value in scores.values()), scores  # chance is 0.25
    meta = json.loads((DEFAULT_BUNDLE / "configs" / "metadata.json").read_text())
    assert meta["dermatitis"]["demonstration"] is True and "DEMONSTRATION" in meta["name"]
    assert (DEFAULT_BUNDLE / "models" / "model.pt").stat().st_size < 5_000_000


def test_train_refuses_missing_data(tmp_path: Path) -> None:
    done = _cli("train", "dermatitis", str(tmp_path / "nothing"), "--out", str(tmp_path / "b"))
    assert done.returncode != 0 and "not found" in done.stderr
