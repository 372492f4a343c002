"""The dermatitis pipeline through the registry, with the shipped DEMONSTRATION weights."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from inference import registry
from inference.dicom_out import layout
from inference.pipelines.dermatitis import synthetic
from inference.pipelines.dermatitis.pipeline import DEMONSTRATION_CAVEAT
from inference.pipelines.dermatitis.samples import photograph_dataset, write_photograph
from inference.pipelines.dermatitis.signs import SEVERITY, SIGN_SUM, SIGNS
from tests.inference.dicom_checks import assert_valid, roundtrip, sr_text_values

# dciodvfy warnings accepted here, and why:
# - our private coding scheme 99DCMNODE (excoriation, lichenification, local measurements) is legal
#   (PS3.3 8.2) but not in dciodvfy's list of known schemes;
# - photographs usually carry no Body Part Examined, so the shared SC writer writes General Series
#   Laterality empty ("unknown"), which dciodvfy flags as a warning.
ACCEPTED = (
    "Unrecognized defined term = <99DCMNODE>",
    "Laterality(0020,0060)> - is only permitted to be empty",
)
SETTINGS = {"device": "cpu"}
SIZE = (640, 480)


def _photo_folder(folder: Path, levels: tuple[int, int, int], jpeg: bool = True, seed: int = 5) -> Path:
    grid = np.broadcast_to(np.asarray(levels), (6, 8, 3)).copy()
    write_photograph(folder, synthetic.photograph(grid, *SIZE, seed=seed).pixels, jpeg=jpeg)
    return folder


def _items(ds: Dataset) -> list[Dataset]:
    found = []
    for item in ds.get("ContentSequence", []):
        found.append(item)
        found += _items(item)
    return found


def _coded(ds: Dataset) -> dict[str, str]:
    """Concept meaning -> coded value meaning of every CODE item."""
    return {
        str(i.ConceptNameCodeSequence[0].CodeMeaning): str(i.ConceptCodeSequence[0].CodeMeaning)
        for i in _items(ds)
        if i.ValueType == "CODE" and "ConceptNameCodeSequence" in i
    }


@dataclass(frozen=True)
class Graded:
    level: int  # 0 none .. 3 severe
    probability: float
    area_weighted: float


GRADE_NOTE = re.compile(
    r"^(?P<sign>\w+): (?P<level>none|mild|moderate|severe) \(p (?P<p>[\d.]+)\), area-weighted"
    rf" (?P<area>[\d.]+), {re.escape(DEMONSTRATION_CAVEAT)}$"
)


def graded_notes(sr: Dataset) -> dict[str, Graded]:
    """The grades the SR gives as demonstration notes (TEXT items), by sign key."""
    levels = [s.meaning.lower() for s in SEVERITY]
    found = {}
    for text in sr_text_values(sr):
        match = GRADE_NOTE.match(text)
        if match:
            level = levels.index(match["level"])
            found[match["sign"]] = Graded(level, float(match["p"]), float(match["area"]))
    return found


def _numbers(ds: Dataset) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for item in _items(ds):
        if item.ValueType == "NUM":
            name = str(item.ConceptNameCodeSequence[0].CodeMeaning)
            found.setdefault(name, []).append(float(item.MeasuredValueSequence[0].NumericValue))
    return found


@pytest.fixture(scope="module")
def severe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Dataset]]:
    folder = _photo_folder(tmp_path_factory.mktemp("severe"), (3, 0, 2))
    return folder, [roundtrip(ds) for ds in registry.run_pipeline("dermatitis", folder, SETTINGS)]


def test_registered() -> None:
    assert "dermatitis" in registry.names()


def test_outputs_are_sr_and_sc_only_and_valid(severe: tuple[Path, list[Dataset]], tmp_path: Path) -> None:
    folder, outputs = severe
    source = pydicom.dcmread(folder / "photo.dcm", stop_before_pixels=True)
    assert [ds.Modality for ds in outputs] == ["SR", "OT"]  # no SEG: a photograph has no patient geometry
    for ds in outputs:
        unexpected = [w for w in assert_valid(ds, tmp_path) if not any(a in w for a in ACCEPTED)]
        assert unexpected == []
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID
    sr = outputs[0]
    assert "PixelData" not in sr  # the photograph's pixels travel only in the SC


def test_sr_grades_each_sign_as_demonstration_notes_never_coded(
    severe: tuple[Path, list[Dataset]],
) -> None:
    """The shipped weights are demonstration weights: no coded severity, no severity score; the grades
    are notes, one per sign and one for the sum, and only the tile count stays a measurement."""
    sr = severe[1][0]
    coded = _coded(sr)
    assert not any(sign.code.meaning in coded for sign in SIGNS)
    assert not {s.meaning for s in SEVERITY} & set(coded.values())
    numbers = _numbers(sr)
    assert "Probability" not in numbers and SIGN_SUM.meaning not in numbers
    assert not any("area-weighted" in name for name in numbers)
    assert numbers["Number of graded tiles"][0] > 0
    graded = graded_notes(sr)
    assert sorted(graded) == sorted(sign.key for sign in SIGNS)
    assert graded["erythema"].level == 3  # the photo was drawn at erythema 3
    assert graded["excoriation"].level in (0, 1)  # ... and excoriation 0
    assert all(0.25 <= g.probability <= 1.0 for g in graded.values())
    assert abs(graded["lichenification"].area_weighted - 2) < 0.75  # drawn at lichenification 2 everywhere
    texts = sr_text_values(sr)
    total = sum(g.level for g in graded.values())
    assert f"sum of the three signs (worst): {total} / 9, {DEMONSTRATION_CAVEAT}" in texts
    names = [
        str(i.ConceptNameCodeSequence[0].CodeMeaning) for i in _items(sr) if "ConceptNameCodeSequence" in i
    ]
    assert "Algorithm Name" in names
    assert any("DEMONSTRATION" in text for text in texts)


def test_weights_of_real_training_give_coded_severities(
    severe: tuple[Path, list[Dataset]], tmp_path: Path
) -> None:
    """Only the bundle's demonstration flag differs: then the grades are coded findings and scores."""
    from inference.dicom_out import write_outputs
    from inference.pipelines.dermatitis.pipeline import DermatitisPipeline

    folder, _ = severe
    pipeline = DermatitisPipeline(SETTINGS)
    pipeline.demonstration = False
    series = pipeline.read(folder)
    result = pipeline.run(series)
    assert [f.concept for f in result.findings] == [sign.code for sign in SIGNS]
    assert not result.notes
    outputs = write_outputs(series, result, "dermatitis", pipeline.algorithm)
    sr = roundtrip(outputs[0])
    assert not sr.SeriesDescription.endswith("DEMO")
    unexpected = [w for w in assert_valid(sr, tmp_path) if not any(a in w for a in ACCEPTED)]
    assert unexpected == []
    coded = _coded(sr)
    assert coded["Erythema"] == "Severe"  # the photo was drawn at erythema 3
    assert coded["Excoriation"] in ("None", "Mild")  # ... and excoriation 0
    numbers = _numbers(sr)
    worst = [[s.meaning for s in SEVERITY].index(coded[sign.code.meaning]) for sign in SIGNS]
    assert numbers[SIGN_SUM.meaning] == [float(sum(worst))]
    assert len(numbers["Probability"]) == 3 and all(0.25 <= p <= 1.0 for p in numbers["Probability"])
    assert abs(numbers["Lichenification area-weighted severity"][0] - 2) < 0.75


def test_sc_shows_the_colour_photograph_with_graded_tiles(severe: tuple[Path, list[Dataset]]) -> None:
    folder, outputs = severe
    sc = outputs[1]
    photo = np.asarray(pydicom.dcmread(folder / "photo.dcm").pixel_array).astype(int)
    pixels = sc.pixel_array.astype(int)
    assert sc.PhotometricInterpretation == "RGB"
    assert pixels.shape[1] <= layout.MAX_WIDTH and pixels.shape[0] <= layout.MAX_HEIGHT  # 1080p at 100 %
    assert sc.SeriesDescription.endswith("DEMO")  # demonstration weights, said on every output
    # The photograph fills the picture area left of the text panel, below the red DEMO banner.
    width = pixels.shape[1] - layout.PANEL_WIDTH
    scale = width / SIZE[0]
    top = pixels[layout.BANNER_HEIGHT : layout.BANNER_HEIGHT + round(SIZE[1] * scale), :width]
    assert np.all(pixels[2, 5] == layout.DEMO_RED)
    corner = top[8 : round(35 * scale), 8 : round(35 * scale)].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - photo[5:35, 5:35].reshape(-1, 3).mean(axis=0)).max() < 8  # drape: untouched photo
    outlined = np.all(np.abs(top - (230, 25, 75)) < 30, axis=-1)  # red outline: a tile graded severe
    assert outlined.sum() > 100


def test_uncompressed_rgb_and_jpeg_photos_grade_alike(tmp_path: Path) -> None:
    grades = []
    for jpeg in (True, False):
        folder = _photo_folder(tmp_path / str(jpeg), (0, 3, 0), jpeg=jpeg, seed=9)
        sr = roundtrip(registry.run_pipeline("dermatitis", folder, SETTINGS)[0])
        grades.append({key: grade.level for key, grade in graded_notes(sr).items()})
    assert grades[0] == grades[1]
    assert grades[0]["excoriation"] == 3


def test_no_skin_means_nothing_graded(tmp_path: Path) -> None:
    drape = np.zeros((240, 320, 3), np.uint8)
    drape[...] = (40, 95, 145)
    write_photograph(tmp_path / "drape", drape)
    outputs = [roundtrip(ds) for ds in registry.run_pipeline("dermatitis", tmp_path / "drape", SETTINGS)]
    assert [ds.Modality for ds in outputs] == ["SR", "OT"]
    assert _numbers(outputs[0])["Number of graded tiles"] == [0.0]
    assert not any(sign.code.meaning in _coded(outputs[0]) for sign in SIGNS)
    assert graded_notes(outputs[0]) == {}


def test_gsps_beside_the_photo_limits_the_graded_tiles(tmp_path: Path) -> None:
    folder = _photo_folder(tmp_path / "roi", (1, 1, 1))
    source = pydicom.dcmread(folder / "photo.dcm", stop_before_pixels=True)
    whole = _numbers(roundtrip(registry.run_pipeline("dermatitis", folder, SETTINGS)[0]))
    gsps = photograph_dataset(np.zeros((2, 2, 3), np.uint8), jpeg=False)  # borrow patient/study modules
    for keyword in ("PixelData", "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(gsps, keyword)
    gsps.Modality = "PR"
    gsps.SOPClassUID = pydicom.uid.GrayscaleSoftcopyPresentationStateStorage
    gsps.file_meta.MediaStorageSOPClassUID = gsps.SOPClassUID
    image = Dataset()
    image.ReferencedSOPClassUID = source.SOPClassUID
    image.ReferencedSOPInstanceUID = source.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = source.SeriesInstanceUID
    series.ReferencedImageSequence = [image]
    gsps.ReferencedSeriesSequence = [series]
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = "PIXEL"
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = 5
    graphic.GraphicData = [
        160.0,
        160.0,
        480.0,
        160.0,
        480.0,
        320.0,
        160.0,
        320.0,
        160.0,
        160.0,
    ]  # 4 x 2 tiles
    graphic.GraphicType = "POLYLINE"
    annotation = Dataset()
    annotation.GraphicLayer = "LESION"
    annotation.GraphicObjectSequence = [graphic]
    gsps.GraphicAnnotationSequence = [annotation]
    gsps.save_as(folder / "gsps.dcm", enforce_file_format=True)
    limited = _numbers(roundtrip(registry.run_pipeline("dermatitis", folder, SETTINGS)[0]))
    assert limited["Number of graded tiles"] == [8.0]
    assert whole["Number of graded tiles"][0] > 8
