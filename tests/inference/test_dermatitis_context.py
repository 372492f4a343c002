"""A lesion outlined in a GSPS sent as its own series reaches the dermatitis pipeline as study context.

Photograph and presentation state go through a real node (storescu -> receiver -> ledger -> spool); the
study-context collector finds the GSPS in the ledger and links it beside the job's input folder; the
pipeline then grades only the outlined tiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from dicom_node.dispatch.study_context import collect_study_context, study_context_dir
from dicom_node.ledger import schema as t
from dicom_node.node import Node
from inference import registry
from inference.pipelines.dermatitis import synthetic
from inference.pipelines.dermatitis.samples import lesion_presentation_state, photograph_dataset
from inference.pipelines.dermatitis.signs import SIGNS
from tests.inference.dicom_checks import assert_valid, roundtrip
from tests.inference.test_dermatitis_pipeline import graded_notes
from tests.support.dcmtk import storescu

SETTINGS = {"device": "cpu"}
# 640 x 480 photograph, graded in 6 x 8 tiles of 80 px. The outlined lesion (rows 2-3, columns 2-5)
# has severe erythema; just below it, outside the outline, two tiles of severe excoriation.
LESION = [(160.0, 160.0), (480.0, 160.0), (480.0, 320.0), (160.0, 320.0)]


def _levels() -> np.ndarray:
    levels = np.zeros((6, 8, 3), int)
    levels[2:4, 2:6] = (3, 0, 0)
    levels[4, 3:5] = (0, 3, 0)
    return levels


def _sr_content(ds: Dataset) -> tuple[dict[str, str], dict[str, float]]:
    coded: dict[str, str] = {}
    numbers: dict[str, float] = {}
    stack = list(ds.get("ContentSequence", []))
    while stack:
        item = stack.pop()
        stack += list(item.get("ContentSequence", []))
        if "ConceptNameCodeSequence" not in item:
            continue
        name = str(item.ConceptNameCodeSequence[0].CodeMeaning)
        if item.ValueType == "CODE":
            coded[name] = str(item.ConceptCodeSequence[0].CodeMeaning)
        elif item.ValueType == "NUM":
            numbers[name] = float(item.MeasuredValueSequence[0].NumericValue)
    return coded, numbers


def _stored(node: Node, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with node.ledger.engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(t.instances)).scalar() == count:
                return
        time.sleep(0.1)
    raise AssertionError(f"the node did not record {count} instances")


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Path]:
    """Photograph, its lesion GSPS, and a GSPS of another photograph of the same study, as files."""
    pixels = synthetic.photograph(_levels(), 640, 480, seed=3).pixels
    photo = photograph_dataset(pixels, jpeg=True)
    other = photograph_dataset(pixels[:240, :320].copy(), jpeg=True, study_uid=photo.StudyInstanceUID)
    files = {
        "photo": (photo, tmp_path / "send" / "photo.dcm"),
        "gsps": (lesion_presentation_state(photo, LESION), tmp_path / "send" / "gsps.dcm"),
        "elsewhere": (lesion_presentation_state(other, LESION), tmp_path / "send" / "elsewhere.dcm"),
    }
    (tmp_path / "send").mkdir()
    for ds, path in files.values():
        ds.save_as(path, enforce_file_format=True)
    return {key: path for key, (_, path) in files.items()}


def test_gsps_series_of_the_study_limits_grading_to_the_lesion(
    start_node: Callable[..., Node], study: dict[str, Path], tmp_path: Path
) -> None:
    node = start_node(rules=[{"name": "hold", "match": {}, "discard": True}])
    assert node.port is not None
    result = storescu(node.port, [study["photo"], study["gsps"], study["elsewhere"]], "--propose-jpeg8")
    assert result.returncode == 0, result.stderr
    _stored(node, 3)

    photo = pydicom.dcmread(study["photo"], stop_before_pixels=True)
    gsps = pydicom.dcmread(study["gsps"], stop_before_pixels=True)
    assert gsps.SeriesInstanceUID != photo.SeriesInstanceUID  # the GSPS is a series of its own
    input_dir = tmp_path / "job" / "input"
    for row in node.ledger.series_files(str(photo.SeriesInstanceUID), 1):
        node.storage.link_or_copy(node.storage.absolute(row.path), input_dir / Path(row.path).name)

    whole_sr = roundtrip(registry.run_pipeline("dermatitis", input_dir, SETTINGS)[0])
    whole = _sr_content(whole_sr)

    context_dir = study_context_dir(input_dir)
    collected = collect_study_context(
        node.ledger, node.storage, str(photo.SeriesInstanceUID), None, context_dir
    )
    # Only the GSPS on this photograph: not the one drawn on the study's other photograph.
    assert [pydicom.dcmread(p).SOPInstanceUID for p in collected] == [gsps.SOPInstanceUID]
    assert context_dir == tmp_path / "job" / "context"

    limited_sr = roundtrip(registry.run_pipeline("dermatitis", input_dir, SETTINGS)[0])
    limited = _sr_content(limited_sr)

    assert limited[1]["Number of graded tiles"] == 8.0
    assert whole[1]["Number of graded tiles"] > 8.0
    # The shipped weights are demonstration weights: the grades are notes (text), never coded.
    assert not any(sign.code.meaning in limited[0] for sign in SIGNS)
    whole_grades, limited_grades = graded_notes(whole_sr), graded_notes(limited_sr)
    # Whole photo: the excoriation below the lesion counts; inside the outline there is none.
    assert whole_grades["excoriation"].level == 3
    assert limited_grades["excoriation"].level == 0
    assert limited_grades["erythema"].level == 3
    assert limited_grades["erythema"].area_weighted > 2.5 > whole_grades["erythema"].area_weighted


def test_context_is_rebuilt_and_empty_without_references(
    start_node: Callable[..., Node], study: dict[str, Path], tmp_path: Path
) -> None:
    node = start_node(rules=[{"name": "hold", "match": {}, "discard": True}])
    assert node.port is not None
    assert storescu(node.port, [study["photo"], study["elsewhere"]], "--propose-jpeg8").returncode == 0
    _stored(node, 2)
    photo = pydicom.dcmread(study["photo"], stop_before_pixels=True)
    dest = tmp_path / "job" / "context"
    dest.mkdir(parents=True)
    (dest / "stale.dcm").write_bytes(b"left over from an earlier attempt")
    found = collect_study_context(
        node.ledger, node.storage, str(photo.SeriesInstanceUID), str(photo.StudyInstanceUID), dest
    )
    assert found == []
    assert not dest.exists()


def test_sample_gsps_is_a_valid_presentation_state(tmp_path: Path) -> None:
    photo = photograph_dataset(np.zeros((48, 64, 3), np.uint8), jpeg=False)
    gsps = lesion_presentation_state(photo, [(1.0, 1.0), (30.0, 1.0), (30.0, 20.0)])
    unexpected = assert_valid(gsps, tmp_path)
    assert [w for w in unexpected if "Laterality" not in w] == []  # empty, as on the photograph
