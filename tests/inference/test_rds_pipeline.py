"""The rds pipeline through the registry on real CR/DX files: valid SEG / SR / SC, node params."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest

from inference import registry
from tests.inference.dicom_checks import ACCEPTED_WARNINGS, roundtrip, sr_text_values
from tests.inference.rds_films import Header, film, write_cr
from tests.support.dicom3tools import dciodvfy

DATA = Path(__file__).resolve().parents[1] / "data" / "cxr"
RSNA_CR = DATA / "torchxrayvision" / "rsna_cr_jpeg_baseline.dcm"
DOG_DX = DATA / "highdicom" / "dx_image.dcm"
RDS_CODE = "46775006"


def _single(tmp: Path, source: Path) -> Path:
    folder = tmp / source.stem
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    return folder


@functools.cache
def _problems(path: Path) -> tuple[list[str], list[str]]:
    verdict = dciodvfy(path)
    return verdict.errors, verdict.warnings


def _check_valid(ds: pydicom.Dataset, source: Path, folder: Path) -> None:
    """dciodvfy finds no error and no warning in the output that the source itself does not have."""
    path = folder / f"{ds.Modality}-{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    errors, warnings = _problems(path)
    source_errors, source_warnings = _problems(source)
    inherited = {line.split(" - ", 2)[-1] for line in source_errors + source_warnings}

    def new(lines: list[str]) -> list[str]:
        return [
            line
            for line in lines
            if line.split(" - ", 2)[-1] not in inherited
            and "invalid data values" not in line
            and not any(a in line for a in ACCEPTED_WARNINGS)
        ]

    assert new(errors) == [], errors
    assert new(warnings) == [] or all("Study ID" in w or "Retired Person Name" in w for w in new(warnings)), (
        warnings
    )


def _outputs(folder: Path) -> dict[str, pydicom.Dataset]:
    outputs = registry.run_pipeline("rds", folder, {})
    return {ds.Modality: roundtrip(ds) for ds in outputs}


def _sr_content(sr: pydicom.Dataset) -> tuple[dict[str, list[tuple[float, str]]], list[tuple[str, str]]]:
    report = hd.sr.Comprehensive3DSR.from_dataset(sr)
    numbers: dict[str, list[tuple[float, str]]] = {}
    codes: list[tuple[str, str]] = []
    content: Any = report.content
    # lungs: planar ROI groups (their outlines on the radiograph); whole image: a planar group whose
    # region is the image border (docs/outputs.md)
    groups = content.get_planar_roi_measurement_groups()
    for group in groups:
        for m in group.get_measurements():
            numbers.setdefault(m.name.meaning, []).append((float(m.value), m.unit.value))
        for q in group.get_qualitative_evaluations():
            codes.append((q.name.value, q.value.value))
    return numbers, codes


def _check_lung_seg(seg: pydicom.Dataset, source: pydicom.Dataset) -> dict[str, np.ndarray]:
    """The SEG lies on the radiograph: same pixel grid, references it, no frame of reference; returns
    the mask per segment label."""
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    # BINARY, or pseudo-binary FRACTIONAL when Rows x Columns is not byte-aligned (docs/outputs.md)
    aligned = seg.Rows * seg.Columns % 8 == 0
    assert seg.SegmentationType == ("BINARY" if aligned else "FRACTIONAL")
    assert "FrameOfReferenceUID" not in seg and "FrameOfReferenceUID" not in source
    assert (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
    given = source.get("PatientOrientation")
    assert list(seg.PatientOrientation or []) == (list(given) if given else [])
    [series] = seg.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ReferencedInstanceSequence] == [source.SOPInstanceUID]
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    assert sorted(labels.values()) == ["Left lung", "Right lung"]
    masks: dict[str, np.ndarray] = {}
    for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        [derivation] = item.DerivationImageSequence
        assert derivation.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
        masks[labels[number]] = frames[index].astype(bool)
    return masks


def test_rds_is_registered() -> None:
    assert "rds" in registry.names()


@pytest.mark.parametrize("source", [RSNA_CR, DOG_DX], ids=["rsna-cr-jpeg", "dx-monochrome1"])
def test_rds_runs_on_real_radiographs(tmp_path: Path, source: Path) -> None:
    out = _outputs(_single(tmp_path, source))
    assert sorted(out) == ["OT", "SEG", "SR"]
    for ds in out.values():
        _check_valid(ds, source, tmp_path)
        assert ds.StudyInstanceUID == pydicom.dcmread(source).StudyInstanceUID
    _check_lung_seg(out["SEG"], pydicom.dcmread(source))
    numbers, codes = _sr_content(out["SR"])
    # neither is a newborn (RSNA: age "62", read as years; the DX: 005Y): no RDS statement at all
    assert "Probability" not in numbers and not [c for c in codes if c[0] == RDS_CODE]
    areas = numbers["Area"]
    assert len(areas) == 2 and all(u == "cm2" and v >= 0 for v, u in areas)
    assert numbers["Rotation Angle"][0][0] in (0.0, 90.0, 180.0, 270.0)
    assert any("DEMONSTRATION" in text for text in sr_text_values(out["SR"]))  # the algorithm name says so


@pytest.fixture(scope="module")
def newborn_outputs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, pydicom.Dataset], float]:
    """A real paediatric film as a 12-bit MONOCHROME1 CR of a 2-day-old (Imager Pixel Spacing 0.4)."""
    pixels, truth = film("peds-normal")
    header = Header(age="002D", pixel_spacing=(0.4, 0.4), monochrome1=True)
    source = write_cr(tmp_path_factory.mktemp("newborn") / "series", pixels, header)
    truth_cm2 = float(np.count_nonzero(truth)) * 0.4 * 0.4 / 100
    return source, _outputs(source.parent), truth_cm2


def test_rds_on_a_monochrome1_newborn_film_gives_valid_seg_sr_and_sc(
    tmp_path: Path, newborn_outputs: tuple[Path, dict[str, pydicom.Dataset], float]
) -> None:
    source, out, truth_cm2 = newborn_outputs
    assert sorted(out) == ["OT", "SEG", "SR"]
    for ds in out.values():
        _check_valid(ds, source, tmp_path)
    numbers, codes = _sr_content(out["SR"])
    right, left = (v for v, _ in numbers["Area"])
    masks = _check_lung_seg(out["SEG"], pydicom.dcmread(source))
    pixel_cm2 = 0.4 * 0.4 / 100
    assert np.count_nonzero(masks["Right lung"]) * pixel_cm2 == pytest.approx(right, rel=1e-3)
    assert np.count_nonzero(masks["Left lung"]) * pixel_cm2 == pytest.approx(left, rel=1e-3)
    # image right (patient's left on a frontal view) holds the left lung
    columns = {name: np.nonzero(mask)[1].mean() for name, mask in masks.items()}
    assert columns["Left lung"] > columns["Right lung"]
    assert 0.8 * truth_cm2 < right + left < 1.2 * truth_cm2  # areas from Imager Pixel Spacing
    # a newborn, but the shipped classifier is a demonstration: no coded RDS finding
    assert not [c for c in codes if c[0] == RDS_CODE] and "Probability" not in numbers


def test_rds_secondary_capture_shows_the_grad_cam_overlay(
    newborn_outputs: tuple[Path, dict[str, pydicom.Dataset], float],
) -> None:
    _, out, _ = newborn_outputs
    sc = out["OT"].pixel_array
    assert sc.ndim == 3 and sc.shape[2] == 3
    image = sc[: sc.shape[1]]  # the square picture above the text panel
    colour = np.abs(image[..., 0].astype(int) - image[..., 2].astype(int))
    assert np.count_nonzero(colour > 40) > 0.01 * colour.size  # heat map / lung colours, not grey only


def test_rds_refuses_a_volume(tmp_path: Path) -> None:
    from dicom_node.errors import InputError, PipelineError
    from tests.inference.pipeline_series import write_slices

    write_slices(tmp_path / "ct", frames=3)
    with pytest.raises((InputError, PipelineError), match="one radiograph"):
        registry.run_pipeline("rds", tmp_path / "ct", {})


def test_node_params_override_the_bundle_settings(tmp_path: Path) -> None:
    from inference.pipeline import Series
    from inference.series_reader import read_series

    folder = _single(tmp_path, DOG_DX)
    series: Series = read_series(folder)
    default = registry.load("rds", {"params": {"median_kernel": 3}})
    older = registry.load("rds", {"params": {"newborn_max_days": 3000}})  # the dog is 005Y
    assert default.algorithm.parameters["median_kernel"] == "3"
    assert [n.text for n in default.run(series).notes] == ["RDS not assessed: not a newborn"]
    assert older.algorithm.parameters["newborn_max_days"] == "3000"
    [note] = older.run(series).notes
    assert note.text.startswith("RDS probability from demonstration weights")


def test_bad_params_are_refused_at_node_start() -> None:
    from dicom_node.errors import ConfigError

    registry.check_params("rds", {"newborn_max_days": 7, "missing_age": "assess", "threshold": "0.4"})
    for bad in ({"newborn_max_days": "a week"}, {"newborn_max_days": -1}, {"missing_age": "maybe"}):
        with pytest.raises(ConfigError, match=r"pipelines\.rds\.params"):
            registry.check_params("rds", bad)
    with pytest.raises(ConfigError, match="threshold"):
        registry.check_params("rds", {"threshold": "high"})
