"""The shipped rds bundle on real radiographs (tests/data/cxr_lungs) wrapped as DICOM CR: lungs against
the reference masks, patient sides from the geometry, the newborn gate and no diagnosis from the
demonstration classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from inference import registry
from inference.pipeline import Result
from inference.pipelines.rds.newborn import AGE_UNKNOWN, NOT_NEWBORN
from inference.pipelines.rds.phantom import LEFT_LUNG, RIGHT_LUNG
from tests.inference.rds_films import FILMS, Header, codes_in, dice, film, write_cr

RDS_CODE = "46775006"
MIN_DICE = 0.85  # per lung, per film; the measured medians are in docs/rds.md


def _run(folder: Path, params: dict[str, object] | None = None) -> Result:
    pipeline = registry.load("rds", {"params": params} if params else {})
    return pipeline.run(pipeline.read(folder))


def _labels(result: Result) -> np.ndarray:
    assert result.label_map is not None
    return np.asarray(result.label_map.labels[0])


def _notes(result: Result) -> list[str]:
    return [n.text for n in result.notes]


@pytest.mark.parametrize("name", sorted(FILMS))
def test_lungs_of_real_films_match_the_reference_on_the_right_sides(tmp_path: Path, name: str) -> None:
    pixels, truth = film(name)
    result = _run(write_cr(tmp_path / name, pixels, Header(age="045Y")).parent)
    labels = _labels(result)
    assert labels.shape == truth.shape
    right, left = dice(labels, truth, RIGHT_LUNG), dice(labels, truth, LEFT_LUNG)
    assert right >= MIN_DICE and left >= MIN_DICE, (right, left)
    assert dice(labels, truth, RIGHT_LUNG) > dice(np.where(labels == 1, 2, 0), truth, LEFT_LUNG)


def test_a_mirrored_jpeg2000_monochrome1_film_keeps_the_patient_sides(tmp_path: Path) -> None:
    """Stored mirrored (patient right on the image right, Patient Orientation R\\F), 16 bit,
    MONOCHROME1, JPEG 2000: label 1 still lies on the patient's right lung."""
    pixels, truth = film("peds-normal")
    header = Header(age="030Y", orientation=("R", "F"), monochrome1=True, bits=16, jpeg2000=True)
    path = write_cr(tmp_path / "mirrored", pixels[:, ::-1], header)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    labels = _labels(_run(path.parent))[:, ::-1]
    assert dice(labels, truth, RIGHT_LUNG) >= MIN_DICE and dice(labels, truth, LEFT_LUNG) >= MIN_DICE


def test_a_film_stored_turned_is_segmented_through_its_orientation_or_the_rotation_fallback(
    tmp_path: Path,
) -> None:
    pixels, truth = film("adult-ap-supine")
    turned = np.rot90(pixels, 1)
    told = _run(write_cr(tmp_path / "told", turned, Header(age="003Y", orientation=("F", "R"))).parent)
    blind = _run(write_cr(tmp_path / "blind", turned, Header(age="003Y", orientation=None)).parent)
    for result in (told, blind):
        labels = np.rot90(_labels(result), -1)
        assert dice(labels, truth, RIGHT_LUNG) >= MIN_DICE and dice(labels, truth, LEFT_LUNG) >= MIN_DICE
    assert told.parameters["rotation_degrees"] == "0"  # the header said how it lies
    assert blind.parameters["rotation_degrees"] != "0"  # lungs not side by side: re-predicted turned


def test_an_upright_film_is_not_turned(tmp_path: Path) -> None:
    for name in FILMS:
        pixels, _ = film(name)
        result = _run(write_cr(tmp_path / name, pixels, Header(age="045Y", orientation=None)).parent)
        assert result.parameters["rotation_degrees"] == "0", name


def test_no_rds_statement_for_a_patient_who_is_not_a_newborn(tmp_path: Path) -> None:
    pixels, _ = film("adult-pa")
    result = _run(write_cr(tmp_path / "adult", pixels, Header(age="062Y")).parent)
    assert result.findings == [] and result.heat_maps == []
    assert _notes(result) == [NOT_NEWBORN]
    outputs = registry.run_pipeline("rds", tmp_path / "adult", {})
    [sr] = [ds for ds in outputs if ds.Modality == "SR"]
    assert RDS_CODE not in codes_in(sr)


def test_a_newborn_gets_only_a_demonstration_probability(tmp_path: Path) -> None:
    """Patient's Age 002D: the classifier runs, but its weights are the demonstration ones: a note,
    no coded finding, AlgorithmInfo says demonstration."""
    pixels, _ = film("peds-normal")
    folder = write_cr(tmp_path / "newborn", pixels, Header(age="002D")).parent
    result = _run(folder)
    [note] = _notes(result)
    assert note.startswith("RDS probability from demonstration weights:") and "no diagnosis" in note
    assert result.findings == [] and len(result.heat_maps) == 1
    assert registry.load("rds", {}).algorithm.demonstration is True
    [sr] = [ds for ds in registry.run_pipeline("rds", folder, {}) if ds.Modality == "SR"]
    assert RDS_CODE not in codes_in(sr)


def test_age_from_birth_and_study_dates_and_absent_birth_date(tmp_path: Path) -> None:
    pixels, _ = film("peds-viral")
    born = _run(write_cr(tmp_path / "born", pixels, Header(birth_days_before=3)).parent)
    older = _run(write_cr(tmp_path / "older", pixels, Header(birth_days_before=400)).parent)
    unknown = write_cr(tmp_path / "unknown", pixels, Header(birth_date_absent=True))
    assert "PatientBirthDate" not in pydicom.dcmread(unknown) and "PatientAge" not in pydicom.dcmread(unknown)
    assert _notes(born)[0].startswith("RDS probability from demonstration weights")
    assert _notes(older) == [NOT_NEWBORN]
    assert _notes(_run(unknown.parent)) == [AGE_UNKNOWN]
    assert _notes(_run(unknown.parent, {"missing_age": "assess"}))[0].startswith("RDS probability")
    assert _notes(_run(tmp_path / "older", {"newborn_max_days": 500}))[0].startswith("RDS probability")
    # the whole job (SEG, SR, SC) on a source without Patient's Birth Date
    outputs = registry.run_pipeline("rds", unknown.parent, {})
    assert sorted(ds.Modality for ds in outputs) == ["OT", "SEG", "SR"]


def test_a_site_trained_classifier_gets_the_coded_finding(tmp_path: Path) -> None:
    import json
    import shutil

    from inference.pipelines.rds.bundle_io import SHIPPED_BUNDLE

    bundle = tmp_path / "bundle"
    shutil.copytree(SHIPPED_BUNDLE, bundle)
    metadata_path = bundle / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text("utf-8"))
    metadata["classifier"] = {"demonstration": False, "site_trained": True, "trained_on": "site"}
    metadata_path.write_text(json.dumps(metadata), "utf-8")
    pixels, _ = film("peds-normal")
    folder = write_cr(tmp_path / "newborn", pixels, Header(age="001D")).parent
    pipeline = registry.load("rds", {"bundle": str(bundle)})
    result = pipeline.run(pipeline.read(folder))
    assert pipeline.algorithm.demonstration is False
    [finding] = result.findings
    assert finding.concept.value == RDS_CODE and finding.probability is not None
    assert _notes(result) == []


def test_areas_use_the_magnification_and_fall_back_to_pixels(tmp_path: Path) -> None:
    pixels, _ = film("adult-pa")
    plain = _run(write_cr(tmp_path / "plain", pixels, Header(age="050Y")).parent)
    magnified = _run(write_cr(tmp_path / "mag", pixels, Header(age="050Y", magnification=1.25)).parent)
    zero = _run(write_cr(tmp_path / "zero", pixels, Header(age="050Y", pixel_spacing=(0.0, 0.0))).parent)

    def areas(result: Result) -> list[tuple[float, str]]:
        return [(m.value, m.unit.value) for m in result.measurements if m.concept.meaning == "Area"]

    for (value, unit), (scaled, _), (count, count_unit) in zip(
        areas(plain), areas(magnified), areas(zero), strict=True
    ):
        assert unit == "cm2" and count_unit == "{pixels}"
        assert scaled == pytest.approx(value / 1.25**2, rel=1e-3)
        assert value == pytest.approx(count * 0.2 * 0.2 / 100, rel=1e-3)


def test_train_rds_on_site_films_without_masks_keeps_the_shipped_lungs_and_is_site_trained(
    tmp_path: Path,
) -> None:
    """`train rds` on labelled films without masks: the shipped real-data lung UNet is kept, the
    classifier is trained (two steps here) and marked site-trained, and its pipeline codes the finding."""
    import json
    import shutil

    from dicom_node.cli import main
    from tests.inference.rds_films import DATA

    data = tmp_path / "site"
    (data / "images").mkdir(parents=True)
    rows = ["image,rds"]
    for index, name in enumerate(sorted(FILMS)):
        group, file = FILMS[name]
        shutil.copy(DATA / group / "images" / file, data / "images" / file)
        rows.append(f"{Path(file).stem},{index % 2}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "bundle"
    argv = ["train", "rds", str(data), "--out", str(out), "--variant", "b0-small", "--cls-epochs", "1"]
    assert main([*argv, "--max-steps", "2", "--batch-size", "2"]) == 0
    metadata = json.loads((out / "configs" / "metadata.json").read_text("utf-8"))
    assert metadata["classifier"] == {"demonstration": False, "site_trained": True, "trained_on": "site"}
    assert "Kermany" in metadata["lung_model"]["trained_on"] and metadata["demonstration"] is False
    pixels, truth = film("peds-normal")
    folder = write_cr(tmp_path / "newborn", pixels, Header(age="001D")).parent
    pipeline = registry.load("rds", {"bundle": str(out)})
    result = pipeline.run(pipeline.read(folder))
    [finding] = result.findings
    assert finding.concept.value == RDS_CODE and pipeline.algorithm.demonstration is False
    assert dice(_labels(result), truth, RIGHT_LUNG) >= MIN_DICE  # the shipped lungs, unchanged
