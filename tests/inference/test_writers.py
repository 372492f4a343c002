"""The DICOM writers on a rich result: several segments with laterality, fractional SEG, findings with
probabilities, whole-image measurements, heat maps; written, read back from bytes, parsed by highdicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom.sr.coding import Code

from dicom_node import UID_ROOT
from dicom_node.errors import PipelineError
from inference.dicom_out import new_context, write_outputs, write_seg
from inference.pipeline import (
    LATERALITY_LEFT,
    LATERALITY_RIGHT,
    AlgorithmInfo,
    Finding,
    HeatMap,
    LabelMap,
    Measurement,
    Result,
    Segment,
    Series,
)
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid, roundtrip, sr_items, sr_text_values
from tests.inference.pipeline_series import write_projection, write_slices

STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
LUNG = Code("39607008", "SCT", "Lung")
VOLUME = Code("118565006", "SCT", "Volume")
MEAN = Code("373098007", "SCT", "Mean")
CM3 = Code("cm3", "UCUM", "cubic centimeter")
HU = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
SEVERITY = Code("246112005", "SCT", "Severity")
NORMAL = Code("255604002", "SCT", "Mild")
ABNORMAL = Code("24484000", "SCT", "Severe")
ALGORITHM = AlgorithmInfo(name="test-net", version="2.1", parameters={"threshold": "0.5"})


def _halves(series: Series) -> np.ndarray:
    labels = np.zeros(series.pixels.shape, np.uint8)
    body = series.pixels > series.pixels.mean()
    cols = series.pixels.shape[2]
    labels[:, :, : cols // 2][body[:, :, : cols // 2]] = 1
    labels[:, :, cols // 2 :][body[:, :, cols // 2 :]] = 2
    return labels


def _result(series: Series, probabilities: np.ndarray | None = None) -> Result:
    segments = [
        Segment(1, "Left lung", STRUCTURE, LUNG, laterality=LATERALITY_LEFT, anatomic_region=LUNG),
        Segment(2, "Right lung", STRUCTURE, LUNG, laterality=LATERALITY_RIGHT, tracking_id="lung-R"),
    ]
    return Result(
        label_map=LabelMap(labels=_halves(series), segments=segments, probabilities=probabilities),
        measurements=[
            Measurement(VOLUME, 12.5, CM3, region=1),
            Measurement(VOLUME, 13.25, CM3, region=2),
            Measurement(MEAN, 40.0, HU),
        ],
        findings=[
            Finding(SEVERITY, NORMAL, probability=0.8, region=1),
            Finding(SEVERITY, ABNORMAL, probability=0.3),
            Finding(SEVERITY, NORMAL, probability=0.6),
        ],
        heat_maps=[HeatMap(values=np.clip(series.pixels / max(float(series.pixels.max()), 1.0), 0, 1))],
        summary=["Test summary line"],
    )


@pytest.fixture
def ct(tmp_path: Path) -> Series:
    write_slices(tmp_path / "ct", frames=5)
    return read_series(tmp_path / "ct")


def test_binary_seg_with_laterality_round_trips(ct: Series, tmp_path: Path) -> None:
    result = _result(ct)
    seg_ds, _, _ = write_outputs(ct, result, "test", ALGORITHM)
    assert assert_valid(seg_ds, tmp_path) == []
    seg = hd.seg.Segmentation.from_dataset(roundtrip(seg_ds))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert seg.get_segment_numbers() == [1, 2]
    left, right = seg.get_segment_description(1), seg.get_segment_description(2)
    assert left.segment_label == "Left lung" and right.tracking_id == "lung-R"
    assert left.tracking_uid.startswith(UID_ROOT)
    assert left.segmented_property_type.value == "39607008"
    modifier = seg_ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0]
    assert modifier.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    assert seg_ds.SegmentSequence[0].AnatomicRegionSequence[0].CodeValue == "39607008"
    algorithm = seg_ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "test-net" and algorithm.AlgorithmVersion == "2.1"
    uids = [str(ct.datasets[f.dataset_index].SOPInstanceUID) for f in ct.frames]
    back = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2])
    assert np.array_equal(back[..., 0] > 0, result.label_map.labels == 1)  # type: ignore[union-attr]
    assert np.array_equal(back[..., 1] > 0, result.label_map.labels == 2)  # type: ignore[union-attr]


def test_fractional_seg_from_probabilities(ct: Series, tmp_path: Path) -> None:
    labels = _halves(ct)
    probabilities = np.stack([(labels == 1) * 0.75, (labels == 2) * 0.5]).astype(np.float32)
    result = _result(ct, probabilities=probabilities)
    seg_ds = write_seg(ct, result.label_map, new_context("test", ALGORITHM))  # type: ignore[arg-type]
    assert assert_valid(seg_ds, tmp_path) == []
    seg = hd.seg.Segmentation.from_dataset(roundtrip(seg_ds))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    uids = [str(ct.datasets[f.dataset_index].SOPInstanceUID) for f in ct.frames]
    back = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2], rescale_fractional=True
    )
    assert back[..., 0].max() == pytest.approx(0.75, abs=1 / 255)
    assert back[..., 1].max() == pytest.approx(0.5, abs=1 / 255)


def test_sr_groups_measurements_findings_and_references(ct: Series, tmp_path: Path) -> None:
    seg_ds, sr_ds, sc_ds = write_outputs(ct, _result(ct), "test", ALGORITHM)
    for ds in (sr_ds, sc_ds):
        assert assert_valid(ds, tmp_path) == []
    sr = hd.sr.Comprehensive3DSR.from_dataset(roundtrip(sr_ds))
    regions = sr.content.get_volumetric_roi_measurement_groups()
    assert [g.tracking_identifier for g in regions] == ["Left lung", "lung-R"]
    segments = hd.seg.Segmentation.from_dataset(roundtrip(seg_ds))
    for group, number in zip(regions, (1, 2), strict=True):  # one tracking UID per region, SEG and SR
        assert group.tracking_uid == segments.get_segment_description(number).tracking_uid
        assert group.roi is not None and group.roi[0].graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        [site] = group.finding_sites
        assert site.value.value == LUNG.value and site.laterality.value in {"7771000", "24028007"}
    left = {m.name.meaning: m.value for m in regions[0].get_measurements()}
    assert left == {"Volume": pytest.approx(12.5), "Probability": pytest.approx(0.8)}
    assert sr_items(sr_ds, "NUM") and not any("ContentSequence" in num for num in sr_items(sr_ds, "NUM"))
    [evaluation] = regions[0].get_qualitative_evaluations()
    assert evaluation.value.value == NORMAL.value
    assert regions[1].get_measurements()[0].value == pytest.approx(13.25)
    whole = [
        g for g in sr.content.get_planar_roi_measurement_groups() if g.tracking_identifier == "whole image"
    ]
    assert len(whole) == 2  # two whole-image probabilities: one group each
    first = {m.name.meaning: m.value for m in whole[0].get_measurements()}
    assert first == {"Mean": pytest.approx(40.0), "Probability": pytest.approx(0.3)}
    assert whole[0].finding_sites[0].laterality.value == "51440002"  # both lungs: right and left
    texts = sr_text_values(sr_ds)
    assert "NOT FOR DIAGNOSTIC USE" in " ".join(texts)
    assert "threshold=0.5" in texts


def test_projection_without_geometry_gets_region_groups_on_source_images(tmp_path: Path) -> None:
    write_projection(tmp_path / "dx")
    series = read_series(tmp_path / "dx")
    outputs = write_outputs(series, _result(series), "test", ALGORITHM)
    assert [ds.Modality for ds in outputs] == ["SR", "OT"]
    for ds in outputs:
        assert assert_valid(ds, tmp_path) == []
    sr = hd.sr.Comprehensive3DSR.from_dataset(roundtrip(outputs[0]))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups[:2]] == ["Left lung", "lung-R"]
    assert all(g.roi is not None for g in groups)


def test_seg_refuses_an_empty_or_misshaped_label_map(ct: Series) -> None:
    context = new_context("test", ALGORITHM)
    segment = Segment(1, "x", STRUCTURE, LUNG)
    with pytest.raises(PipelineError, match="empty"):
        write_seg(ct, LabelMap(np.zeros(ct.pixels.shape, np.uint8), [segment]), context)
    with pytest.raises(PipelineError, match="shape"):
        write_seg(ct, LabelMap(np.ones((1, 2, 3), np.uint8), [segment]), context)


def test_reserved_concept_for_a_finding_is_refused(ct: Series) -> None:
    result = Result(findings=[Finding(Code("121071", "DCM", "Finding"), NORMAL)])
    with pytest.raises(PipelineError, match="121071"):
        write_outputs(ct, result, "test", ALGORITHM)


def test_key_image_overlay_ramp_and_outline() -> None:
    """The heat ramp runs blue -> green -> red; a mask touching the picture's border is outlined up to
    it, and pixels outside the heat map and the masks keep their grey value."""
    from scipy import ndimage

    from inference.dicom_out.common import PALETTE_RGB
    from inference.dicom_out.render import _heat_rgb, overlay

    ramp = _heat_rgb(np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
    expected = np.array([[0, 0, 255], [0, 127.5, 127.5], [0, 255, 0], [127.5, 127.5, 0], [255, 0, 0]], float)
    np.testing.assert_allclose(ramp.T, expected, atol=1e-3)

    frame = np.tile(np.arange(40, dtype=np.float32), (30, 1))
    labels = np.zeros((1, 30, 40), np.uint8)
    labels[0, 0:10, 0:12] = 1  # touches the top and left border
    labels[0, 15:25, 20:30] = 2  # inside
    heat = np.zeros((1, 30, 40), np.float32)
    heat[0, 12:14, 2:6] = 1.0
    segments = [Segment(1, "a", STRUCTURE, LUNG), Segment(2, "b", STRUCTURE, LUNG)]
    series = Series(datasets=[], frames=[], pixels=frame[None], spacing_mm=None)
    result = Result(label_map=LabelMap(labels=labels, segments=segments), heat_maps=[HeatMap(heat)])
    rgb = overlay(series, result, 0).astype(int)
    for number, label in enumerate((1, 2)):
        mask = labels[0] == label
        edge = mask & ~ndimage.binary_erosion(mask)
        assert (rgb[edge] == PALETTE_RGB[number]).all()
        assert not (rgb[mask & ~edge] == PALETTE_RGB[number]).all(axis=-1).any()
    assert (rgb[12:14, 2:6, 0] > rgb[12:14, 2:6, 2] + 100).all()  # hot = red
    untouched = (labels[0] == 0) & (heat[0] == 0)
    assert (rgb[untouched][:, 0] == rgb[untouched][:, 1]).all()  # grey
