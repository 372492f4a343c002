"""atrophy pipeline on real data with the real weights (each network runs once per input, per module).

* brainchop's conformed T1 (``tests/data/brainchop/t1_crop.nii.gz``, LIA): deepbet + the parcellation,
  and MindGrab's mask (the other extractor, ~100 s: run once, on this input only) compared with deepbet's;
* the Siemens XA30 enhanced multi-frame 3D T1 (2 mm): the whole pipeline through the registry (default
  extractor: deepbet), outputs checked with dciodvfy and mapped back onto the source frames.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from inference import registry
from inference.dicom_out import new_context, write_outputs, write_seg
from inference.pipeline import Result, Series
from inference.pipelines.atrophy import etiv
from inference.pipelines.atrophy.brain_extraction import INSTALL_HINT, installed_weights
from inference.pipelines.atrophy.conform import Grid, conform
from inference.pipelines.atrophy.pipeline import AtrophyPipeline
from inference.pipelines.atrophy.regions import REGIONS, group_labels
from inference.pipelines.atrophy.segment import BrainSegmentation, BrainSegmenter, minmax
from inference.series_reader import read_series
from tests.inference.dicom_checks import assert_valid

DATA = Path(__file__).resolve().parents[1] / "data"
T1 = DATA / "brainchop" / "t1_crop.nii.gz"
XA30_T1 = DATA / "dcm_qa_xa30" / "In" / "5_anat-T1w_acq-tfl"
LEFT_HIPPOCAMPUS, RIGHT_HIPPOCAMPUS = 77, 78

pytestmark = pytest.mark.slow
# The default extractor: deepbet when installed (make venv installs it), else MindGrab (then slow).
DEEPBET_INSTALLED = installed_weights() is not None


def _centre(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    index = np.argwhere(mask).mean(axis=0)
    return np.asarray(affine @ np.append(index, 1.0))[:3]


def _t1() -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(T1)
    assert isinstance(image, nib.Nifti1Image)
    assert nib.aff2axcodes(image.affine) == ("L", "I", "A")
    return np.asarray(image.dataobj, dtype=np.float32), image.affine


@pytest.fixture(scope="module")
def conformed() -> tuple[BrainSegmentation, np.ndarray]:
    """Brain mask (default extractor) + 104-label parcellation of the conformed T1 (x, y, z), RAS affine."""
    volume, affine = _t1()
    segmenter = BrainSegmenter()
    if DEEPBET_INSTALLED:
        assert segmenter.extractor == "deepbet" and segmenter.extraction is None  # MindGrab not loaded
    return segmenter.run(volume), affine


@pytest.fixture(scope="module")
def mindgrab_brain() -> np.ndarray:
    """MindGrab's brain mask of the conformed T1 (the fallback extractor)."""
    volume, _ = _t1()
    segmenter = BrainSegmenter(extractor="mindgrab")
    assert segmenter.extractor == "mindgrab" and segmenter.deepbet is None
    return segmenter.extract_brain(minmax(volume))


@pytest.mark.skipif(not DEEPBET_INSTALLED, reason=f"deepbet not installed: {INSTALL_HINT}")
def test_deepbet_and_mindgrab_masks_of_the_conformed_t1_agree(
    conformed: tuple, mindgrab_brain: np.ndarray
) -> None:
    """Same brain from both extractors (measured: Dice 0.963, 1542 vs 1653 mL); an upside-down deepbet
    input gives Dice 0.90, so this also checks deepbet's reorientation. deepbet leaves out the outer CSF
    rim that MindGrab keeps: its mask lies (almost) inside MindGrab's."""
    deepbet = conformed[0].brain
    assert 1000.0 < mindgrab_brain.sum() / 1000.0 < 1800.0
    dice = 2.0 * float((deepbet & mindgrab_brain).sum()) / float(deepbet.sum() + mindgrab_brain.sum())
    assert dice > 0.94
    assert float((deepbet & mindgrab_brain).sum()) / float(deepbet.sum()) > 0.98


def test_brain_mask_and_parcellation_of_the_conformed_t1_are_plausible(conformed: tuple) -> None:
    segmentation, _ = conformed
    brain_ml = float(segmentation.brain.sum()) / 1000.0
    assert 1000.0 < brain_ml < 1800.0
    labels = segmentation.parcellation
    parcelled = labels > 0
    overlap = 2.0 * float((parcelled & segmentation.brain).sum()) / float(parcelled.sum() + brain_ml * 1000)
    assert overlap > 0.8  # the extractor and the parcellation agree on where the brain is
    for label in (LEFT_HIPPOCAMPUS, RIGHT_HIPPOCAMPUS):
        assert 2.5 < float((labels == label).sum()) / 1000.0 < 6.0
    regions = group_labels(labels)
    counts = np.bincount(regions.ravel(), minlength=11)
    assert np.all(counts[1:] > 1000), counts  # every one of the 10 regions is there (> 1 mL)


def _two_mm(volume: np.ndarray, grid: Grid) -> tuple[np.ndarray, Grid]:
    """The same head resampled to 2 mm voxels (Gaussian pre-smoothing, as a 2 mm acquisition would blur)."""
    image = sitk.SmoothingRecursiveGaussian(grid.image(volume), 0.85)
    reference = sitk.Image([n // 2 for n in image.GetSize()], sitk.sitkFloat32)
    reference.SetSpacing([2.0, 2.0, 2.0])
    reference.SetOrigin(image.GetOrigin())
    reference.SetDirection(image.GetDirection())
    coarse = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0)
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(coarse.GetDirection()).reshape(3, 3) * 2.0
    affine[:3, 3] = coarse.GetOrigin()
    array = np.transpose(sitk.GetArrayFromImage(coarse), (2, 1, 0))
    return array, Grid(array.shape, affine)


def test_etiv_is_in_the_adult_range_and_the_same_at_2_mm(conformed: tuple) -> None:
    """eTIV (atlas scaling, Buckner 2004) of the 1 mm T1 and of the same head resampled to 2 mm: measured
    1519 and 1498 mL (1.4 % apart); the norms' adult range is about 1.2-1.9 L."""
    segmentation, ras = conformed
    volume, _ = _t1()
    grid = Grid(volume.shape, np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras)
    fine = etiv.estimate(volume, segmentation.brain, grid)
    assert fine is not None and 1200.0 < fine.ml < 1900.0
    coarse_volume, coarse_grid = _two_mm(volume, grid)
    conformed_2mm, grid_2mm = conform(coarse_volume, coarse_grid)
    brain_2mm = BrainSegmenter().extract_brain(minmax(conformed_2mm))
    coarse = etiv.estimate(conformed_2mm, brain_2mm, grid_2mm)
    assert coarse is not None and abs(coarse.ml / fine.ml - 1.0) < 0.05


def test_parcellation_of_the_conformed_t1_has_sides_and_lobes_in_place(conformed: tuple) -> None:
    segmentation, affine = conformed
    labels = segmentation.parcellation  # nibabel affine: RAS world, +x = patient's right
    left = _centre(labels == LEFT_HIPPOCAMPUS, affine)
    right = _centre(labels == RIGHT_HIPPOCAMPUS, affine)
    assert left[0] < right[0]  # RAS: the left hippocampus has the smaller x
    regions = group_labels(labels)
    centres = {r.label: _centre(regions == r.label, affine) for r in REGIONS}
    for region in REGIONS:
        lateral = centres[region.label][0]
        assert lateral < 0 if region.side == "left" else lateral > 0, region.name
    frontal, occipital = centres[1], centres[7]
    assert frontal[1] > occipital[1] + 40  # frontal cortex well anterior (+y in RAS) of occipital
    assert centres[9][2] < frontal[2]  # hippocampus below the frontal cortex


@pytest.fixture(scope="module")
def xa30(tmp_path_factory: pytest.TempPathFactory) -> tuple[Series, Result, list[pydicom.Dataset], Path]:
    series = read_series(XA30_T1)
    pipeline = registry.load("atrophy", {})
    assert isinstance(pipeline, AtrophyPipeline)
    result = pipeline.run(series)
    outputs = write_outputs(series, result, "atrophy", pipeline.algorithm)
    if outputs[0].Modality != "SEG":  # see test_xa30_write_outputs_includes_the_seg
        try:
            assert result.label_map is not None
            seg = write_seg(series, result.label_map, new_context("atrophy", pipeline.algorithm))
            outputs = [seg, *outputs]
        except AttributeError:  # highdicom wants PixelMeasuresSequence shared; XA30 has it per frame
            pass
    return series, result, outputs, tmp_path_factory.mktemp("atrophy")


def test_xa30_write_outputs_includes_the_seg(xa30: tuple) -> None:
    series, result, _, _ = xa30
    outputs = write_outputs(series, result, "atrophy", registry.load("atrophy", {}).algorithm)
    assert [ds.Modality for ds in outputs] == ["SEG", "SR", "OT"]


def _volumes(result: Result) -> dict[int | None, float]:
    return {m.region: m.value for m in result.measurements if m.concept.value == "118565006"}


def test_xa30_brain_mask_is_plausible_and_the_parcellation_passes_qc(xa30: tuple) -> None:
    _, result, _, _ = xa30
    volumes = _volumes(result)
    assert 1200.0 < volumes[None] < 1900.0  # eTIV (mL), within the norms' adult range
    assert any(line.startswith("Intracranial volume (eTIV") for line in result.summary), result.summary
    assert not any("QC: parcellation implausible" in line for line in result.summary), result.summary
    assert any("coarser than 1.5 mm" in line for line in result.summary)  # 2 mm source: said
    # age 31 Y, sex M, but a 2 mm source: atrophy not assessed (assess_coarse is off by default); the
    # flags it would give are in tests/inference/test_atrophy_assessment.py
    assert {f.value.meaning for f in result.findings if f.concept.value == "121402"} == {"Not Evaluated"}
    assert {f.value.value for f in result.findings if f.concept.meaning == "Reason not assessed"} == {
        "COARSESRC"
    }
    assert any(
        line.startswith("Regional volumes not compared with norms: source voxels coarser")
        for line in result.summary
    )
    assert not any(line.startswith("Annotation codes") for line in result.summary)


def test_xa30_regional_volumes_are_plausible(xa30: tuple) -> None:
    """2 mm source: N4 bias correction and the unsharp mask for coarse sources make this work."""
    _, result, _, _ = xa30
    volumes = _volumes(result)
    assert 2.5 < volumes[9] < 6.0 and 2.5 < volumes[10] < 6.0, volumes  # hippocampi, mL
    for region in REGIONS[:8]:
        assert 10.0 < volumes[region.label] < 200.0, (region.name, volumes)
    fractions = {m.region: m.value for m in result.measurements if m.concept.value == "113288"}
    assert fractions[1] == pytest.approx(100.0 * volumes[1] / volumes[None], rel=1e-3)


def test_xa30_sides_and_lobes_are_in_place_on_the_source_grid(xa30: tuple) -> None:
    series, result, _, _ = xa30
    labels = result.label_map.labels  # (slice, row, col) on the source frames (sagittal slices)
    affine = series.volume.affine  # (col, row, slice) -> LPS
    ijk = np.transpose(labels, (2, 1, 0))
    centres = {r.label: _centre(ijk == r.label, affine) for r in REGIONS}
    midline = _centre(ijk > 0, affine)[0]
    for region in REGIONS:  # LPS: +x is the patient's left
        lateral = centres[region.label][0] - midline
        assert lateral > 10 if region.side == "left" else lateral < -10, (region.name, lateral)
    frontal, occipital, hippocampus = centres[1], centres[7], centres[9]
    assert frontal[1] < occipital[1] - 40  # LPS: anterior is -y; frontal well in front of occipital
    assert hippocampus[2] < frontal[2]  # LPS: +z is superior; the hippocampus lies below frontal cortex
    temporal, parietal = centres[3], centres[5]
    assert temporal[2] < parietal[2]  # temporal lobe below the parietal lobe


def test_xa30_outputs_pass_dciodvfy_and_say_what_they_are(xa30: tuple) -> None:
    _, result, outputs, folder = xa30
    assert [ds.Modality for ds in outputs][-2:] == ["SR", "OT"]
    for ds in outputs:
        # the source's own Patient's Name ("XAtest_sub-July11", one component) is copied as is; our
        # private coding scheme (the "not assessed" reasons) is legal (PS3.3 8.2)
        warnings = assert_valid(ds, folder)
        assert [w for w in warnings if "PatientName" not in w and "99DCMNODE" not in w] == []
    algorithm = registry.load("atrophy", {}).algorithm  # written into every output
    extractor = "deepbet" if DEEPBET_INSTALLED else "MindGrab"
    assert "demonstration weights" in algorithm.name and extractor in algorithm.name
    assert len(algorithm.name) <= 64  # DICOM LO
    assert algorithm.parameters["brain extraction"].startswith(
        "deepbet 1.0.2 (Fisch et al." if DEEPBET_INSTALLED else "brainchop MindGrab"
    )
    assert "CentileBrain" in algorithm.parameters["norms"]
    assert (
        algorithm.parameters["atrophy flags"] == "below the 2.5th centile; not assessed when voxels > 1.5 mm"
    )
    assert any("Research finding" in line and extractor in line for line in result.summary)
    hippocampus = next(line for line in result.summary if line.startswith("Left hippocampus"))
    assert hippocampus.endswith("% of ICV (not assessed)")  # 2 mm source
    sr = outputs[-2]
    concepts = {
        (item.get("ValueType"), item.ConceptNameCodeSequence[0].CodeValue)
        for item in _content_items(sr)
        if "ConceptNameCodeSequence" in item
    }
    assert ("NUM", "118565006") in concepts  # the region groups' volumes are there ...
    assert ("NUM", "121415") not in concepts  # ... but no centile in any of them
    assert ("CODE", "121402") in concepts  # "Normality": Not Evaluated, with a coded reason
    coarse = registry.load("atrophy", {"params": {"assess_coarse": "true"}})
    assert isinstance(coarse, AtrophyPipeline) and coarse.params.assess_coarse
    assert "unreliable" in coarse.algorithm.parameters["atrophy flags"]


def _content_items(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    items = []
    for item in ds.get("ContentSequence", []):
        items.append(item)
        items.extend(_content_items(item))
    return items


def test_xa30_seg_has_ten_segments_on_the_source_frames(xa30: tuple) -> None:
    series, result, outputs, _ = xa30
    if outputs[0].Modality != "SEG":
        pytest.xfail("no SEG on this enhanced source (shared writer / highdicom: per-frame pixel measures)")
    seg = hd.seg.Segmentation.from_dataset(outputs[0])
    assert seg.get_segment_numbers() == list(range(1, 11))
    first = seg.get_segment_description(1)
    assert first.segmented_property_type.value == "83251001"
    assert first.segmented_property_type.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    source = series.datasets[0]
    numbers = [f.frame_number for f in series.frames]
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=source.SOPInstanceUID,
        source_frame_numbers=numbers,
        segment_numbers=list(range(1, 11)),
        combine_segments=True,
        assert_missing_frames_are_empty=True,  # the SEG omits empty frames on purpose (viewers misdraw them)
    )
    assert np.array_equal(pixels, result.label_map.labels)
