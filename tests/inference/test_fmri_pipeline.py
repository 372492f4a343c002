"""fmri end to end: tiny training -> loadable bundle -> evaluate finds the planted ROIs -> pipeline on
real 4D EPI (GE classic slices, Siemens mosaics) with valid SEG / SR / SC and the too-short flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pydicom
import pytest

from inference.pipelines.fmri import evaluate, synthetic, train
from inference.pipelines.fmri.bundle_io import read_info
from inference.registry import load, run_pipeline
from tests.inference.bundle_checks import assert_written_by_the_writer
from tests.inference.dicom_checks import assert_valid, roundtrip

DATA = Path(__file__).resolve().parents[1] / "data"
GE = DATA / "dcm_qa_nih/In/20180918GE/mr_0004"
SIEMENS = DATA / "dcm_qa_nih/In/20180918Si/mr_0003"
MOSAIC35 = DATA / "dcm_qa/In/Orientation/ax/axasc35"
PLANTED = [86, 12]
TRAINED = "86,12,1,150"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fmri_data")
    synthetic.write_dataset(
        out, per_class=12, planted=PLANTED, seed=1, length=30, tr_s=3.0, voxel_mm=6.0, amplitude=3.0
    )
    return out


@pytest.fixture(scope="module")
def bundle(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fmri_bundle")
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(
        [
            str(dataset),
            "--out",
            str(out),
            "--rois",
            TRAINED,
            "--ensemble",
            "86,12",
            "--bootstrap",
            "500",
            "--no-motion-correction",
            "--demonstration",
            "--version",
            "0.0.1-test",
        ]
    )
    assert train.run(args) == 0
    return out


def test_training_writes_a_loadable_bundle_that_finds_the_planted_rois(bundle: Path) -> None:
    assert_written_by_the_writer(bundle)
    info = read_info(bundle)
    assert info.demonstration and info.timing.length == 30 and info.n_points == 33
    assert set(PLANTED) <= set(info.significant)
    assert info.ensemble == [86, 12]
    assert all(info.stats[r].accuracy >= 0.8 for r in PLANTED)
    assert (bundle / "models/model.pt").stat().st_size < 2_000_000
    pipeline = load("fmri", {"bundle": str(bundle), "device": "cpu"})
    assert "DEMONSTRATION" in pipeline.algorithm.name


def test_evaluate_prints_table_with_the_planted_rois(
    bundle: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(
        [str(dataset), "--bundle", str(bundle), "--no-motion-correction", "--bootstrap", "500"]
    )
    assert evaluate.run(args) == 0
    out = capsys.readouterr().out
    assert "Power ROI" in out and "Ensemble" in out and "DEMONSTRATION" in out
    passing = out.strip().splitlines()[-1].removeprefix("passing ROIs: ").split(",")
    assert {str(r) for r in PLANTED} <= set(passing)


@pytest.mark.parametrize("folder", [GE, SIEMENS, MOSAIC35], ids=["ge-classic", "siemens-mosaic", "mosaic-35"])
def test_pipeline_on_real_epi(bundle: Path, folder: Path, tmp_path: Path) -> None:
    outputs = run_pipeline("fmri", folder, {"bundle": str(bundle), "device": "cpu"})
    kinds = [ds.Modality for ds in outputs]
    assert kinds[-2:] == ["SR", "OT"]
    for ds in outputs:
        assert_valid(ds, tmp_path)
    sr = roundtrip(outputs[-2])
    text = str(sr)
    assert "Run timing does not match the model" in text  # 2-10 volumes (or TR 5 s) against 30 at 3 s
    assert "Mean framewise displacement" in text
    assert "ROI LSTM output (research)" not in text  # refused: no probability
    assert kinds[0] == "SEG"  # classic slices and multi-volume mosaics alike
    seg = roundtrip(outputs[0])
    assert {str(s.SegmentLabel).split()[1] for s in seg.SegmentSequence} <= {"86", "12"}
    referenced = {
        i.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence
    }
    files = sorted(p for p in folder.iterdir() if p.suffix != ".txt")
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    if folder != GE:  # one mosaic per volume: the SEG lies on the first volume's mosaic only
        [first] = [
            ds
            for ds in sources
            if int(ds.AcquisitionNumber) == min(int(d.AcquisitionNumber) for d in sources)
        ]
        assert referenced == {first.SOPInstanceUID}
        frame = seg.PerFrameFunctionalGroupsSequence[0]
        assert frame.PlanePositionSequence[0].ImagePositionPatient == first.ImagePositionPatient
        assert (seg.Rows, seg.Columns) == (first.Rows, first.Columns)
    assert referenced <= {ds.SOPInstanceUID for ds in sources}
    segments = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    assert all(label.startswith("Power ") and "(" in label for label in segments)  # index + coordinate


def test_refused_run_says_why_and_names_rois_by_power_index(bundle: Path) -> None:
    from inference.series_reader import read_series

    pipeline = load("fmri", {"bundle": str(bundle), "device": "cpu"})
    result = pipeline.run(read_series(MOSAIC35))  # 2 volumes, TR 3 s
    notes = [n.text for n in result.notes]
    assert any("Not assessed: the run has 2 volumes, the model needs 30" in n for n in notes)
    assert any("framewise displacement" in n and "over 2 volumes" in n for n in notes)
    assert not any(f.probability is not None for f in result.findings)
    roi_notes = [n for n in result.notes if n.region is not None]
    assert result.label_map is not None and roi_notes
    for note in roi_notes:
        assert note.text.startswith(f"Power {note.region} (")  # index and MNI coordinate
    [used] = [m for m in result.measurements if m.concept.value == "FMRI-VOL-USED"]
    assert used.value == 0


def test_packaged_demonstration_bundle_is_labelled_and_uses_the_corrected_paper_rois() -> None:
    from inference.pipelines.fmri.atlas import PAPER_ROIS
    from inference.pipelines.fmri.bundle_io import default_bundle

    info = read_info(default_bundle())
    assert info.demonstration
    # the ensemble is what the bootstrap selected inside training: the planted (corrected) paper ROIs
    assert set(info.ensemble) <= set(PAPER_ROIS) and len(info.ensemble) >= 15
    assert {224, 225} <= set(info.ensemble)
    assert "DEMONSTRATION" in (default_bundle() / "configs/metadata.json").read_text("utf-8")
