"""The atrophy head: AI-Hub style annotations, features cache, train / evaluate, the class in the pipeline.

All on a synthetic features data set (no DICOM, no skull strip or parcellation): training reads the
features from ``features.csv``, as it does for a real data set after the first run.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.dataset import Dataset

from dicom_node.cli import main
from dicom_node.errors import InputError
from inference.pipeline import Finding, Note
from inference.pipelines.atrophy import dataset, synthetic
from inference.pipelines.atrophy.class_head import CLASS_CODES, COGNITIVE_CLASS, ClassHead
from inference.pipelines.atrophy.features import (
    FEATURES_CSV,
    RegionalFeatures,
    read_features_csv,
    write_features_csv,
)
from inference.pipelines.atrophy.metrics import binary_score, confusion_matrix
from inference.pipelines.atrophy.regions import REGIONS
from tests.inference.bundle_checks import assert_written_by_the_writer


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    torch.set_num_threads(1)


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(args))
    return code, out.getvalue()


def _region_accuracies(text: str) -> dict[str, float]:
    found = {}
    for region in REGIONS:
        match = re.search(rf"^{region.name}\s+\d+/\d+\s+\d+\s+\d+\s+([\d.]+)%", text, re.MULTILINE)
        assert match, f"{region.name} missing from:\n{text}"
        found[region.name] = float(match.group(1))
    return found


def _three_class_accuracy(text: str) -> float:
    match = re.search(r"3-class accuracy: ([\d.]+)%", text)
    assert match, text
    return float(match.group(1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("train")
    synthetic.write_dataset(data, per_class=40, seed=1)
    bundle = tmp_path_factory.mktemp("bundle") / "head"
    code, text = _cli("train", "atrophy", str(data), "--out", str(bundle), "--no-compute", "--demonstration")
    assert code == 0, text
    assert "held-out scores (36 subjects)" in text  # stratified 70:30 of 3 x 40
    return bundle


def test_evaluate_prints_region_scores_and_confusion_matrix(trained: Path, tmp_path: Path) -> None:
    synthetic.write_dataset(tmp_path, per_class=30, seed=7)  # unseen subjects
    code, text = _cli("evaluate", "atrophy", str(tmp_path), "--bundle", str(trained), "--no-compute")
    assert code == 0
    assert "DEMONSTRATION" in text
    accuracies = _region_accuracies(text)
    assert min(accuracies.values()) > 80.0  # a 20 % loss against 5 % noise is learnable per region
    assert "annotated \\ predicted" in text and "sens." in text and "spec." in text
    assert _three_class_accuracy(text) > 50.0  # chance is 33 %


def test_shuffled_labels_do_not_learn(tmp_path: Path) -> None:
    """The scores measure learning: with class labels detached from the features they drop to chance."""
    data = tmp_path / "data"
    synthetic.write_dataset(data, per_class=40, seed=3)
    rng = np.random.default_rng(0)
    names = ["dementia", "MCI", "normal"]
    for path in sorted(data.rglob("annotation.json")):
        document = json.loads(path.read_text())
        document["class"] = names[int(rng.integers(0, 3))]
        path.write_text(json.dumps(document))
    code, text = _cli("train", "atrophy", str(data), "--out", str(tmp_path / "b"), "--no-compute")
    assert code == 0
    assert _three_class_accuracy(text) < 60.0


def _severe_and_healthy() -> tuple[RegionalFeatures, RegionalFeatures]:
    normal, _ = synthetic.subject_features(np.random.default_rng(11), 2, "b")
    # every region 25 % below a normal subject's
    severe = RegionalFeatures(
        "a", tuple(v * 0.75 for v in normal.volumes_ml), normal.icv_ml, 82.0, normal.sex
    )
    return severe, RegionalFeatures("b", normal.volumes_ml, normal.icv_ml, 60.0, normal.sex)


def test_demonstration_head_gives_the_class_as_a_note_never_coded(trained: Path) -> None:
    metadata = assert_written_by_the_writer(trained)
    assert metadata["atrophy_head"]["demonstration"] is True
    head = ClassHead(trained, "cpu")
    severe, healthy = _severe_and_healthy()
    note, line = head.classify(severe)
    assert isinstance(note, Note)  # no Finding: demonstration weights never give a coded diagnosis
    assert note.text.startswith(f"{COGNITIVE_CLASS.meaning}: {CLASS_CODES[0].meaning} (p ")  # dementia
    assert "demonstration weights" in note.text and "not a diagnosis" in note.text
    assert "dementia" in line and "DEMONSTRATION" in line
    other, _ = head.classify(healthy)
    assert isinstance(other, Note) and CLASS_CODES[0].meaning not in other.text


def test_head_of_real_training_gives_the_coded_class(trained: Path) -> None:
    head = ClassHead(trained, "cpu")
    head.demonstration = False  # as a head trained on real data (the bundle's flag is all that differs)
    severe, healthy = _severe_and_healthy()
    finding, line = head.classify(severe)
    assert isinstance(finding, Finding) and finding.concept == COGNITIVE_CLASS
    assert finding.value == CLASS_CODES[0]  # dementia
    assert finding.probability is not None and 0.34 < finding.probability <= 1.0
    assert "dementia" in line and "DEMONSTRATION" not in line
    found, _ = head.classify(healthy)
    assert isinstance(found, Finding) and found.value != CLASS_CODES[0]


def test_head_refuses_a_bundle_of_another_pipeline() -> None:
    from inference.pipelines.dermatitis.pipeline import DEFAULT_BUNDLE

    with pytest.raises(InputError, match="not an atrophy head"):
        ClassHead(DEFAULT_BUNDLE, "cpu")


def test_annotation_json_codes_and_class(tmp_path: Path) -> None:
    subject = tmp_path / "정상" / "subject_1"
    subject.mkdir(parents=True)
    (subject / "a.json").write_text(json.dumps({"annotation": {"vr": "IS", "Value": [11, 20, 31]}}))
    (subject / "b.json").write_text(json.dumps({"meta": {"region_codes": "41 50 101"}}))
    other = tmp_path / "x" / "subject_2"
    other.mkdir(parents=True)
    (other / "a.json").write_text(json.dumps({"codes": ["90"], "diagnosis": "MCI"}))
    subjects = {s.name: s for s in dataset.find_subjects(tmp_path)}
    first = subjects["정상/subject_1"]
    assert first.label == 2  # from the Korean class folder
    assert first.atrophy == (1, 0, 1, 1, 0, -1, -1, -1, -1, 1)
    second = subjects["x/subject_2"]
    assert second.label == 1 and second.atrophy[8] == 0 and second.atrophy.count(-1) == 9


@pytest.mark.parametrize(
    ("value", "problem"),
    [([12], "not a region code"), ([111], "not a region code"), ([11, 10], "both with and without")],
)
def test_annotation_errors_name_the_problem(tmp_path: Path, value: list[int], problem: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"annotation": value}))
    with pytest.raises(InputError, match=problem):
        dataset.find_subjects(tmp_path)


def test_features_cache_round_trip_and_missing_subject(tmp_path: Path) -> None:
    names = synthetic.write_dataset(tmp_path, per_class=2, seed=5)
    cache = read_features_csv(tmp_path / FEATURES_CSV)
    assert sorted(cache) == sorted(names)
    write_features_csv(tmp_path / "copy.csv", cache.values())
    again = read_features_csv(tmp_path / "copy.csv")
    for name in names:
        assert np.allclose(again[name].vector(), cache[name].vector(), atol=1e-3)
    del cache[names[0]]
    write_features_csv(tmp_path / FEATURES_CSV, cache.values())
    with pytest.raises(InputError, match=re.escape(names[0])):
        dataset.load_dataset(tmp_path, measure=None)
    measured: list[str] = []

    def measure(folder: Path, subject: str) -> RegionalFeatures:
        measured.append(subject)
        return again[subject]

    loaded = dataset.load_dataset(tmp_path, measure=measure)
    assert measured == [names[0]] and len(loaded.subjects) == len(names)
    assert names[0] in read_features_csv(tmp_path / FEATURES_CSV)  # cached for the next run


def test_scores() -> None:
    score = binary_score(np.array([1, 1, 0, 0, -1]), np.array([1, 0, 0, 1, 1]))
    assert (score.n, score.positives, score.accuracy, score.sensitivity, score.specificity) == (
        4,
        2,
        0.5,
        0.5,
        0.5,
    )
    matrix = confusion_matrix(np.array([0, 1, 2, 2, -1]), np.array([0, 2, 2, 1, 0]))
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]


def _coded(sr: Dataset) -> dict[str, str]:
    """Concept meaning -> coded value meaning of every CODE item of an SR."""
    coded = {}
    stack = list(sr.ContentSequence)
    while stack:
        item = stack.pop()
        stack += list(item.get("ContentSequence", []))
        if item.ValueType == "CODE":
            coded[str(item.ConceptNameCodeSequence[0].CodeMeaning)] = str(
                item.ConceptCodeSequence[0].CodeMeaning
            )
    return coded


@pytest.mark.parametrize("demonstration", [True, False])
def test_class_is_written_into_a_valid_sr(trained: Path, tmp_path: Path, demonstration: bool) -> None:
    """Demonstration head: the SR says the class as text and has no class code; else a coded class."""
    from inference.dicom_out import write_outputs
    from inference.pipeline import AlgorithmInfo, Measurement, Result
    from inference.pipelines.atrophy.assessment import MILLILITER, VOLUME
    from inference.series_reader import read_series
    from tests.inference.dicom_checks import assert_valid, roundtrip, sr_text_values
    from tests.inference.pipeline_series import write_slices

    write_slices(tmp_path / "mr", modality="MR", frames=4)
    series = read_series(tmp_path / "mr")
    normal, _ = synthetic.subject_features(np.random.default_rng(2), 2, "s")
    head = ClassHead(trained, "cpu")
    head.demonstration = demonstration
    found, line = head.classify(normal)
    result = Result(
        measurements=[Measurement(VOLUME, normal.icv_ml, MILLILITER)],
        findings=[found] if isinstance(found, Finding) else [],
        notes=[found] if isinstance(found, Note) else [],
        summary=[line],
    )
    algorithm = AlgorithmInfo(name="atrophy head test", version="1", demonstration=demonstration)
    outputs = write_outputs(series, result, "atrophy", algorithm)
    sr = roundtrip(next(ds for ds in outputs if ds.Modality == "SR"))
    unexpected = assert_valid(sr, tmp_path)
    assert [w for w in unexpected if "99DCMNODE" not in w] == []  # our private scheme is legal (PS3.3 8.2)
    coded = _coded(sr)
    if demonstration:
        assert COGNITIVE_CLASS.meaning not in coded
        assert not {c.meaning for c in CLASS_CODES} & set(coded.values())
        assert isinstance(found, Note) and found.text in sr_text_values(sr)
        assert all(ds.SeriesDescription.endswith(" DEMO") for ds in outputs)
    else:
        assert isinstance(found, Finding) and coded[COGNITIVE_CLASS.meaning] == found.value.meaning


def test_demonstration_head_run_carries_no_coded_diagnosis(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole atrophy run with a demonstration head: the class and the regional verdicts are notes,
    "Not Evaluated" style process codes aside there is no coded finding, and the writers accept it.

    The skull strip and parcellation are replaced by a made-up 10-region map (plausible volumes) on the
    source grid: what is tested is the report, not the segmentation.
    """
    import pydicom

    from inference.dicom_out import write_outputs
    from inference.pipelines.atrophy.conform import Grid
    from inference.pipelines.atrophy.etiv import Intracranial
    from inference.pipelines.atrophy.pipeline import AtrophyPipeline, Segmented
    from inference.series_reader import read_series
    from tests.inference.dicom_checks import roundtrip, sr_text_values
    from tests.inference.pipeline_series import write_slices

    for path in write_slices(tmp_path / "mr", modality="MR", frames=40, size=(100, 100), spacing=(1, 1, 1)):
        ds = pydicom.dcmread(path)
        ds.PatientAge = "070Y"
        ds.save_as(path)
    series = read_series(tmp_path / "mr")
    regions = np.zeros((100, 100, 40), np.uint8)  # (column, row, slice), as the pipeline's grids
    for index, region in enumerate(REGIONS):
        size = 4 if region.structure == "hippocampus" else 32  # 3.6 / 28.8 mL: passes the sanity check
        regions[index * 10 : index * 10 + 10, :90, :size] = region.label
    grid = Grid(regions.shape, np.eye(4))
    pipeline = AtrophyPipeline({"device": "cpu", "params": {"head": str(trained)}})
    found = Segmented(None, regions, grid, grid, Intracranial(1450.0, "eTIV"))  # type: ignore[arg-type]
    monkeypatch.setattr(pipeline, "segment", lambda _series: found)
    assert pipeline.algorithm.demonstration
    result = pipeline.run(series)
    assert result.coded_diagnoses == []
    texts = [n.text for n in result.notes]
    assert sum("Normality: " in t and "demonstration class head" in t for t in texts) == len(REGIONS)
    assert sum(t.startswith(COGNITIVE_CLASS.meaning) for t in texts) == 1
    sr = roundtrip(
        next(ds for ds in write_outputs(series, result, "atrophy", pipeline.algorithm) if ds.Modality == "SR")
    )
    coded = set(_coded(sr).values())
    assert not coded & {"Within normal limits", "Abnormally Low", *(c.meaning for c in CLASS_CODES)}
    assert any("Normality: " in t for t in sr_text_values(sr))
