"""What a viewer (OHIF 3.13) needs from our outputs, checked on the objects themselves.

Every SR measurement group has a SCOORD SELECTED FROM a source image and NUMs without children; the
group's Tracking UID is its SEG segment's; a projection SEG has a Plane Orientation Sequence and
byte-aligned frames; segment centroids lie on the patient side their laterality says; codes (123110,
private scheme identification, disclaimer as text, DEMO); the SC fits 1080p and shows three views.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from inference.dicom_out import write_outputs
from inference.dicom_out.common import DEMO_NOTICE, DISCLAIMER
from inference.dicom_out.layout import MAX_HEIGHT, MAX_WIDTH
from inference.dicom_out.views import orthogonal_views
from inference.pipeline import (
    LATERALITY_LEFT,
    LATERALITY_RIGHT,
    NOT_EVALUATED,
    AlgorithmInfo,
    Finding,
    LabelMap,
    Measurement,
    Note,
    Result,
    Segment,
    Series,
)
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid, roundtrip, sr_items, sr_text_values
from tests.inference.pipeline_series import write_slices
from tests.inference.test_writers import CM3, LUNG, STRUCTURE, VOLUME

DOG_DX = Path(__file__).resolve().parents[1] / "data" / "cxr" / "highdicom" / "dx_image.dcm"
PRIVATE = Code("THING", "99DCMNODE", "A private result")
ALGORITHM = AlgorithmInfo(name="test-net", version="1", parameters={"threshold": "0.5"}, demonstration=True)
SEGMENTS = (
    Segment(1, "Left lung", STRUCTURE, LUNG, laterality=LATERALITY_LEFT),
    Segment(2, "Right lung", STRUCTURE, LUNG, laterality=LATERALITY_RIGHT),
)


def _patient_x(series: Series) -> np.ndarray:
    """Patient x (LPS: + = left) of every voxel [frame, row, col], from the source geometry."""
    x = np.zeros(series.pixels.shape)
    for index, ref in enumerate(series.frames):
        ds = series.datasets[ref.dataset_index]
        position = np.asarray(ds.ImagePositionPatient, float)
        cosines = np.asarray(ds.ImageOrientationPatient, float)
        rows, cols = np.mgrid[: x.shape[1], : x.shape[2]]
        spacing = [float(v) for v in ds.PixelSpacing]
        x[index] = position[0] + cols * spacing[1] * cosines[0] + rows * spacing[0] * cosines[3]
    return x


@pytest.fixture(scope="module")
def mirrored_ct(tmp_path_factory: pytest.TempPathFactory) -> Series:
    """A CT whose rows run towards the patient's right (IOP -1\\0\\0\\0\\1\\0): image left = patient left."""
    folder = tmp_path_factory.mktemp("ct")
    for path in write_slices(folder, frames=10, size=(40, 48)):
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [-1, 0, 0, 0, 1, 0]
        ds.save_as(path)
    return read_series(folder)


@pytest.fixture(scope="module")
def ct_outputs(mirrored_ct: Series) -> tuple[Result, list[Dataset]]:
    x = _patient_x(mirrored_ct)
    body = mirrored_ct.pixels > mirrored_ct.pixels.mean()
    middle = float(np.median(x[body]))
    labels = np.where(body & (x > middle), 1, np.where(body & (x <= middle), 2, 0)).astype(np.uint8)
    result = Result(
        label_map=LabelMap(labels, SEGMENTS),
        measurements=[Measurement(VOLUME, 1.5, CM3, region=1), Measurement(VOLUME, 2.5, CM3)],
        findings=[Finding(PRIVATE, NOT_EVALUATED)],  # a process code: allowed next to demonstration weights
        notes=[Note("compared with nothing", region=1), Note("report-level note")],
    )
    return result, write_outputs(mirrored_ct, result, "test", ALGORITHM)


def _groups(sr: Dataset) -> list[Dataset]:
    return [c for c in sr_items(sr, "CONTAINER") if c.ConceptNameCodeSequence[0].CodeValue == "125007"]


def _assert_groups_drawable(sr: Dataset, sources: set[str]) -> None:
    groups = _groups(sr)
    assert groups
    for group in groups:
        scoords = [i for i in group.ContentSequence if i.ValueType == "SCOORD"]
        assert scoords, "a group without SCOORD crashes OHIF 3.13"
        selected = scoords[0].ContentSequence[0]
        assert selected.RelationshipType == "SELECTED FROM"
        assert selected.ReferencedSOPSequence[0].ReferencedSOPInstanceUID in sources
        assert len(scoords[0].GraphicData) // 2 not in (4, 5)  # not turned into a rectangle tool
        numbers = [i for i in group.ContentSequence if i.ValueType == "NUM"]
        assert all("ContentSequence" not in n for n in numbers)  # OHIF shows every NUM
        sites = [i for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "363698007"]
        assert len(sites) == 1


def test_volume_outputs_are_valid_drawable_and_linked(
    mirrored_ct: Series, ct_outputs: tuple[Result, list[Dataset]], tmp_path: Path
) -> None:
    _, outputs = ct_outputs
    seg, sr, sc = outputs
    for ds in outputs:
        assert [w for w in assert_valid(ds, tmp_path) if "99DCMNODE" not in w] == []
    sources = {str(ds.SOPInstanceUID) for ds in mirrored_ct.datasets}
    _assert_groups_drawable(sr, sources)
    report = hd.sr.srread(tmp_path / f"SR-{sr.SOPInstanceUID}.dcm")
    groups = report.content.get_volumetric_roi_measurement_groups()
    segmentation = hd.seg.Segmentation.from_dataset(roundtrip(seg))
    for number, group in zip((1, 2), groups, strict=True):
        assert group.tracking_uid == segmentation.get_segment_description(number).tracking_uid
    # algorithm family, private scheme identified, disclaimer as report text (not a TID 4019 parameter)
    family = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert family.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"
    for ds in outputs:
        assert [i.CodingSchemeDesignator for i in ds.CodingSchemeIdentificationSequence] == ["99DCMNODE"]
    parameters = [i for i in sr_items(sr, "TEXT") if i.ConceptNameCodeSequence[0].CodeValue == "111002"]
    assert parameters and all(DISCLAIMER not in i.TextValue for i in parameters)
    texts = sr_text_values(sr)
    assert DISCLAIMER in texts and DEMO_NOTICE in texts
    assert "Left lung: compared with nothing" in texts and "report-level note" in texts
    assert all(ds.SeriesDescription.endswith(" DEMO") for ds in outputs)
    assert sc.Rows <= MAX_HEIGHT and sc.Columns <= MAX_WIDTH
    top = sc.pixel_array[:10, : sc.Columns // 2].reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[1] < 60  # the red DEMO banner


def test_segment_centroids_lie_on_their_side_of_the_patient(ct_outputs: tuple[Result, list[Dataset]]) -> None:
    _, (seg, _, _) = ct_outputs
    shared = seg.SharedFunctionalGroupsSequence[0]
    cosines = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    pixels = roundtrip(seg).pixel_array
    pixels = pixels.reshape(-1, *pixels.shape[-2:])
    sums: dict[int, list[float]] = {1: [], 2: []}
    for frame, group in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.asarray(group.PlanePositionSequence[0].ImagePositionPatient, float)
        rows, cols = np.nonzero(frame)
        sums[number] += list(position[0] + cols * spacing[1] * cosines[0] + rows * spacing[0] * cosines[3])
    left, right = np.mean(sums[1]), np.mean(sums[2])
    assert left > right  # LPS: the left lung lies at larger x
    assert SEGMENTS[0].laterality == LATERALITY_LEFT


def test_orthogonal_views_turn_the_head_up_and_the_right_to_the_left(mirrored_ct: Series) -> None:
    """A marker at the patient's left, top slice: right side of the screen in the native view, top of
    the reformatted views."""
    x = _patient_x(mirrored_ct)
    labels = np.zeros(mirrored_ct.pixels.shape, np.uint8)
    heights = [
        float(mirrored_ct.datasets[f.dataset_index].ImagePositionPatient[2]) for f in mirrored_ct.frames
    ]
    for top in np.argsort(heights)[-2:]:  # the two highest slices (whatever order the reader chose)
        labels[top, 15:25][x[top, 15:25] > np.median(x)] = 1
    result = Result(label_map=LabelMap(labels, SEGMENTS[:1]))
    views = orthogonal_views(mirrored_ct, result)
    assert views is not None and len(views) == 3
    native, coronal, _ = views
    red = (native[..., 0] > 200) & (native[..., 1] < 80)
    assert np.nonzero(red)[1].mean() > native.shape[1] / 2  # patient left on the screen's right
    red = (coronal[..., 0] > 200) & (coronal[..., 1] < 80)
    assert np.nonzero(red)[0].mean() < coronal.shape[0] / 2  # head up
    assert np.nonzero(red)[1].mean() > coronal.shape[1] / 2


def test_projection_seg_is_byte_aligned_with_plane_orientation(tmp_path: Path) -> None:
    """The real DX (169 x 211: not a multiple of 8) gives a pseudo-binary 8-bit SEG OHIF can load."""
    folder = tmp_path / "dx"
    folder.mkdir()
    (folder / "dx.dcm").write_bytes(DOG_DX.read_bytes())
    series = read_series(folder)
    labels = np.zeros((1, *series.pixels.shape[1:]), np.uint8)
    labels[0, 40:120, 20:90], labels[0, 40:120, 120:190] = 2, 1
    result = Result(label_map=LabelMap(labels, SEGMENTS), measurements=[Measurement(VOLUME, 1.0, CM3)])
    seg, sr, sc = write_outputs(series, result, "test", AlgorithmInfo("n", "1"), seg_on_projection=True)
    for ds in (seg, sr, sc):
        assert [w for w in assert_valid(ds, tmp_path) if "THORAX" not in w] == []  # the source's term
    assert seg.SegmentationType == "FRACTIONAL" and seg.SegmentationFractionalType == "OCCUPANCY"
    assert seg.BitsAllocated == 8 and seg.Rows * seg.Columns % 8 != 0
    orientation = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
    assert [float(v) for v in orientation.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    # read with pydicom: highdicom 0.28's reader wants a SliceThickness its writer leaves out here
    frames = roundtrip(seg).pixel_array
    numbers = [
        int(g.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for g in seg.PerFrameFunctionalGroupsSequence
    ]
    assert set(np.unique(frames)) == {0, 255}  # pseudo-binary: OHIF loads it as a binary labelmap
    for frame, number in zip(frames, numbers, strict=True):
        assert np.array_equal(frame > 0, labels[0] == number)
    _assert_groups_drawable(sr, {str(series.datasets[0].SOPInstanceUID)})
    assert sc.Rows <= MAX_HEIGHT and sc.Columns <= MAX_WIDTH
    assert not any(ds.SeriesDescription.endswith("DEMO") for ds in (seg, sr, sc))
