"""The built-in qc pipeline through the registry: CT, MR, DX and enhanced MR sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from dicom_node import MANUFACTURER, UID_ROOT, __version__
from inference import registry
from inference.dicom_out.common import DISCLAIMER, SERIES_NUMBERS
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid, roundtrip, sr_text_values
from tests.inference.pipeline_series import (
    KOREAN,
    KOREAN_NAME,
    write_enhanced_mr,
    write_projection,
    write_slices,
)


def _by_kind(outputs: list[pydicom.Dataset]) -> dict[str, pydicom.Dataset]:
    kinds = {"SEG": "SEG", "SR": "SR", "OT": "SC"}
    return {kinds[ds.Modality]: roundtrip(ds) for ds in outputs}


def test_names_lists_qc() -> None:
    assert "qc" in registry.names()


def test_unknown_pipeline_is_an_input_error(tmp_path: Path) -> None:
    from dicom_node.errors import InputError

    with pytest.raises(InputError, match="unknown pipeline"):
        registry.run_pipeline("nope", tmp_path, {})


def test_qc_on_ct_keeps_korean_identity_and_passes_dciodvfy(tmp_path: Path) -> None:
    paths = write_slices(tmp_path / "ct", identity=KOREAN)
    source = pydicom.dcmread(paths[0])
    outputs = registry.run_pipeline("qc", tmp_path / "ct", {})
    assert [ds.Modality for ds in outputs] == ["SEG", "SR", "OT"]
    out = _by_kind(outputs)
    for kind, ds in out.items():
        assert assert_valid(ds, tmp_path) == []
        assert str(ds.PatientName) == KOREAN_NAME
        assert ds.PatientID == source.PatientID
        assert ds.PatientBirthDate == source.PatientBirthDate
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.AccessionNumber == source.AccessionNumber
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert ds.SeriesDescription == f"AI qc {kind}"
        assert int(ds.SeriesNumber) == SERIES_NUMBERS[kind]
        assert ds.Manufacturer == MANUFACTURER
        assert __version__ in ds.SoftwareVersions
        assert ds.SOPInstanceUID.startswith(UID_ROOT) and ds.SeriesInstanceUID.startswith(UID_ROOT)
        assert "ContentDate" in ds and "ContentTime" in ds
    assert len({ds.SeriesInstanceUID for ds in out.values()}) == 3


def test_qc_seg_lies_on_source_slices_without_empty_frames(tmp_path: Path) -> None:
    write_slices(tmp_path / "ct", frames=8)
    series = read_series(tmp_path / "ct")
    assert series.volume is not None  # read through inference.volume
    out = _by_kind(registry.run_pipeline("qc", tmp_path / "ct", {}))
    seg = hd.seg.Segmentation.from_dataset(out["SEG"])
    assert seg.get_segment_numbers() == [1]
    description = seg.get_segment_description(1)
    assert description.segmented_property_category.value == "91723000"
    assert description.segmented_property_type.scheme_designator == "SCT"
    assert description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    # every SEG frame references exactly one source slice, no frame is empty
    referenced = [
        item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for item in out["SEG"].PerFrameFunctionalGroupsSequence
    ]
    frames = out["SEG"].pixel_array.reshape(len(referenced), -1)
    assert np.all(frames.any(axis=1))
    # the mask read back per source slice equals what the pipeline computed on that slice
    uids = [str(series.datasets[f.dataset_index].SOPInstanceUID) for f in series.frames]
    assert set(referenced) <= set(uids)
    pipeline = registry.load("qc")
    expected = pipeline.run(series).label_map
    assert expected is not None
    mask = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1], ignore_spatial_locations=False
    )
    assert np.array_equal(mask[..., 0] > 0, expected.labels > 0)
    # frame positions are those of the source slices
    positions = {
        tuple(round(float(v), 3) for v in item.PlanePositionSequence[0].ImagePositionPatient)
        for item in out["SEG"].PerFrameFunctionalGroupsSequence
    }
    source_positions = {tuple(round(float(v), 3) for v in ds.ImagePositionPatient) for ds in series.datasets}
    assert positions <= source_positions


def test_qc_sr_measures_volume_and_references_seg(tmp_path: Path) -> None:
    write_slices(tmp_path / "mr", modality="MR", spacing=(3.0, 1.0, 0.5))
    series = read_series(tmp_path / "mr")
    out = _by_kind(registry.run_pipeline("qc", tmp_path / "mr", {}))
    sr = hd.sr.Comprehensive3DSR.from_dataset(out["SR"])
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 1
    group = groups[0]
    assert group.tracking_identifier == "Body"
    assert group.tracking_uid.startswith(UID_ROOT)
    # the region is drawn (outlines on its slices) and linked to its SEG segment by the Tracking UID
    assert group.roi is not None and len(group.roi) >= 1
    seg = hd.seg.Segmentation.from_dataset(out["SEG"])
    assert seg.get_segment_description(1).tracking_uid == group.tracking_uid
    [volume] = group.get_measurements()
    assert volume.name.value == "118565006"
    assert volume.unit.value == "cm3"
    mask = registry.load("qc").run(series).label_map
    assert mask is not None
    expected = float((mask.labels > 0).sum()) * 3.0 * 1.0 * 0.5 / 1000.0
    assert volume.value == pytest.approx(expected, rel=1e-3)
    texts = sr_text_values(out["SR"])
    assert "dicom-node qc" in texts and DISCLAIMER in texts and "threshold=otsu" in texts
    assert out["SR"].ContentQualification == "RESEARCH"
    # evidence: the source series and the SEG
    evidence = {
        item.SeriesInstanceUID
        for item in out["SR"].CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    }
    assert {series.datasets[0].SeriesInstanceUID, out["SEG"].SeriesInstanceUID} <= evidence


def test_qc_on_single_dx_image_gives_sr_and_sc(tmp_path: Path) -> None:
    write_projection(tmp_path / "dx")
    outputs = registry.run_pipeline("qc", tmp_path / "dx", {})
    out = _by_kind(outputs)
    assert sorted(out) == ["SC", "SR"]
    for ds in out.values():
        assert assert_valid(ds, tmp_path) == []
    sr = hd.sr.Comprehensive3DSR.from_dataset(out["SR"])
    [group] = sr.content.get_planar_roi_measurement_groups()  # the body outline on the radiograph
    assert group.roi is not None and group.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    [area] = group.get_measurements()
    assert area.name.value == "42798000" and area.unit.value == "cm2"
    assert area.value > 0


def test_qc_on_enhanced_multiframe_mr(tmp_path: Path) -> None:
    write_enhanced_mr(tmp_path / "emr")
    out = _by_kind(registry.run_pipeline("qc", tmp_path / "emr", {}))
    assert sorted(out) == ["SC", "SEG", "SR"]
    for ds in out.values():
        assert assert_valid(ds, tmp_path) == []
    refs = {
        int(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        for item in out["SEG"].PerFrameFunctionalGroupsSequence
    }
    assert refs <= set(range(1, 6)) and len(refs) == int(out["SEG"].NumberOfFrames)


def test_qc_is_model_free(tmp_path: Path) -> None:
    """qc checks a route without a model: running it never imports torch or MONAI (a fresh process)."""
    write_slices(tmp_path / "ct", frames=20, size=(64, 64))
    script = (
        "import sys; from pathlib import Path; from inference import registry; "
        f"registry.run_pipeline('qc', Path({str(tmp_path / 'ct')!r}), {{}}); "
        "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_sc_shows_disclaimer_text_lines(tmp_path: Path) -> None:
    write_slices(tmp_path / "ct")
    out = _by_kind(registry.run_pipeline("qc", tmp_path / "ct", {}))
    sc = out["SC"]
    assert sc.SamplesPerPixel == 3 and sc.PhotometricInterpretation == "RGB"
    pixels = sc.pixel_array
    assert pixels.shape[1] >= 512
    # the text panel at the bottom holds yellow text on black
    panel = pixels[-100:]
    yellow = (panel[..., 0] > 200) & (panel[..., 1] > 200) & (panel[..., 2] < 80)
    assert yellow.sum() > 200


def test_qc_runs_on_a_series_the_volume_loader_refuses(tmp_path: Path) -> None:
    paths = write_slices(tmp_path / "ct", frames=6)
    by_position = sorted(paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    by_position[2].unlink()  # a missing slice: not one even volume any more
    series = read_series(tmp_path / "ct")
    assert series.volume is None and len(series.frames) == 5
    out = _by_kind(registry.run_pipeline("qc", tmp_path / "ct", {}))
    assert sorted(out) == ["SC", "SEG", "SR"]
    assert assert_valid(out["SEG"], tmp_path) == []
