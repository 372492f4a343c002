"""The paper's protocol on ROI time series (one time x ROI array per subject + labels.csv).

The protocol's behaviour is tested on a generated set (white noise per ROI; in class 1, two ROIs also
drift upwards over the run), where the right answer is known, and run on real signal: 24 ABIDE NYU
subjects x 20 CC200 ROIs in tests/data/fmri_abide_nyu_subset (CC BY-NC-SA 3.0, non-commercial research
use; its SOURCE.md). The figures on the whole NYU set are in docs/fmri-protocol.md (a long run).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from dicom_node.errors import InputError, PipelineError
from inference.pipelines.fmri import evaluate, train
from inference.pipelines.fmri.batched import LstmStack
from inference.pipelines.fmri.bundle_io import read_info
from inference.pipelines.fmri.timeseries import load_timeseries
from inference.registry import load
from tests.inference.bundle_checks import assert_written_by_the_writer

PLANTED = (2, 5)  # 1-based ROI columns
N_ROIS, LENGTH = 6, 40


def write_set(out: Path, per_class: int = 30, seed: int = 4, short: int | None = None) -> Path:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(2 * per_class):
        label = ("TC", "ASD")[i % 2]
        n = short if (short and i == 0) else LENGTH + (i % 3)  # unequal lengths: cropped, not stretched
        noise = rng.standard_normal((n, N_ROIS))
        if label == "ASD":  # a temporal pattern only: z-scoring removes any level or scale difference
            noise[:, [r - 1 for r in PLANTED]] += np.linspace(0.0, 4.0, n)[:, None]
        name = f"ts/sub-{i:02d}.npy"
        (out / "ts").mkdir(exist_ok=True)
        np.save(out / name, noise.astype(np.float32))
        rows.append({"file": name, "label": label})
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_set(tmp_path_factory.mktemp("fmri_ts"))


PROTOCOL = ["--classes", "TC,ASD", "--hidden", "8", "--batch", "8", "--bootstrap", "500"]


def test_loader_crops_to_the_shortest_run_and_refuses_a_longer_request(dataset: Path) -> None:
    data = load_timeseries(dataset, ("TC", "ASD"))
    assert data.features.shape == (60, N_ROIS, LENGTH, 1) and data.length == LENGTH
    assert sorted(set(data.original_lengths)) == [LENGTH, LENGTH + 1, LENGTH + 2]
    assert np.allclose(data.features.mean(axis=2), 0, atol=1e-5)  # z-scored over the frames used
    raw = np.load(dataset / "ts/sub-01.npy")[:LENGTH, 0]
    assert np.allclose(data.features[1, 0, :, 0], (raw - raw.mean()) / raw.std(), atol=1e-4)  # cropped as is
    with pytest.raises(InputError, match="never stretched"):
        load_timeseries(dataset, ("TC", "ASD"), length=LENGTH + 1)
    with pytest.raises(InputError, match="neither 0/1 nor"):
        load_timeseries(dataset, ("control", "patient"))


def test_stacked_models_are_plain_roi_lstms() -> None:
    stack = LstmStack(3, 2, 8, seed=1)
    x = torch.randn(3, 5, 12, 2)
    with torch.no_grad():
        together = stack(x)
        alone = torch.stack([stack.export(i)(x[i]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_evaluate_runs_the_protocol_and_finds_the_planted_rois(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    assert evaluate.run(parser.parse_args([str(dataset), "--all", *PROTOCOL])) == 0
    out = capsys.readouterr().out
    assert "42 training, 18 test" in out and "none stretched" in out
    assert "CC200 ROI 2" in out and "Ensemble of the" in out
    selected = out.split("selected ROIs: ")[1].splitlines()[0].split(",")
    assert {str(r) for r in PLANTED} <= set(selected)
    passing = out.split("passing ROIs: ")[1].splitlines()[0].split(",")
    assert {str(r) for r in PLANTED} <= set(passing)


def test_train_writes_a_time_series_bundle_the_dicom_pipeline_refuses(dataset: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    out = tmp_path / "bundle"
    assert train.run(parser.parse_args([str(dataset), "--out", str(out), *PROTOCOL])) == 0
    assert_written_by_the_writer(out)
    info = read_info(out)
    assert info.input_kind == "roi_timeseries:CC200" and info.n_points == 1
    assert set(PLANTED) <= set(info.ensemble) and info.timing.length == LENGTH
    assert all(0 < info.weight(r) <= 1 for r in info.ensemble)
    with pytest.raises(PipelineError, match="not on Power-264"):
        load("fmri", {"bundle": str(out), "device": "cpu"})


ABIDE_SUBSET = Path(__file__).resolve().parents[1] / "data" / "fmri_abide_nyu_subset"


def test_the_protocol_runs_on_real_abide_signal(capsys: pytest.CaptureFixture[str]) -> None:
    """Real resting-state time series: the split, the per-ROI table with bootstrap p, the ensemble."""
    data = load_timeseries(ABIDE_SUBSET, ("TC", "ASD"))
    assert data.features.shape[:3] == (24, 20, 176) and sorted(set(data.original_lengths)) == [176]
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    assert evaluate.run(parser.parse_args([str(ABIDE_SUBSET), "--all", "--atlas", "CC200", *PROTOCOL])) == 0
    out = capsys.readouterr().out
    assert "16 training, 8 test" in out and "none stretched" in out
    rows = [line.split() for line in out.splitlines() if " CC200 ROI " in line]
    assert len(rows) == 20  # one row per ROI (#, ROI, loss, ACC, p), significant or not
    assert all(0 <= float(row[-2]) <= 1 and 0 <= float(row[-1]) <= 1 for row in rows)
    assert "Ensemble of the" in out
