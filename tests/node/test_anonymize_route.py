"""The anonymizer in the node: ``anonymize:`` forwarding; de-identified inference with re-identification."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from anonymizer.check import check_profile
from anonymizer.residual import check_output
from anonymizer.settings import AnonymizerSettings, ProfileSettings
from dicom_node.config import Config, StorageConfig
from dicom_node.dispatch.anonymize_route import anonymize_forward, deidentify_inputs, reidentify_outputs
from dicom_node.errors import PipelineError
from dicom_node.samples import Patient, ct_series

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"
OPTIONS = ["retain_longitudinal_modified_dates", "clean_descriptors"]


def _config(tmp_path: Path, *, store: bool) -> Config:
    profile = ProfileSettings(
        options=OPTIONS,
        key_file=tmp_path / "keys" / "anon.key",
        pseudonym_prefix="RES",
        reidentification_store=tmp_path / "keys" / "reid.sqlite" if store else None,
    )
    return Config(
        storage=StorageConfig(path=tmp_path / "var", fsync=False),
        anonymizer=AnonymizerSettings(profiles={"research": profile}),
    )


def test_forward_writes_anonymised_copies_that_pass_the_check(tmp_path: Path) -> None:
    sources = sorted(DATA.rglob("*.dcm"))
    transform = anonymize_forward(_config(tmp_path, store=False))
    outputs = transform({"anonymize": "research"}, sources, tmp_path / "out")
    assert len(outputs) == len(sources)
    assert all(p.parent == tmp_path / "out" and p.exists() for p in outputs)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left
    check = check_profile(ProfileSettings(options=OPTIONS, pseudonym_prefix="RES"))
    for source, path in zip(sources, outputs, strict=True):
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientID).startswith("RES")
        assert check_output(ds, pydicom.dcmread(source), check, path.name) == []
    again = transform({"anonymize": "research"}, sources, tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in outputs]  # same key, same pseudonyms
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in outputs]


def _burned_in_screen(tmp_path: Path) -> Path:
    ds = pydicom.dcmread(DATA / "dx" / "dx_image.dcm")
    ds.BurnedInAnnotation = "YES"
    path = tmp_path / "screen.dcm"
    ds.save_as(path)
    return path


def test_forward_refuses_the_whole_series_and_says_why(tmp_path: Path) -> None:
    sources = [*sorted(DATA.rglob("*.dcm")), _burned_in_screen(tmp_path)]
    transform = anonymize_forward(_config(tmp_path, store=False))
    with pytest.raises(PipelineError) as caught:
        transform({"anonymize": "research"}, sources, tmp_path / "out")
    message = str(caught.value)
    assert f"refused 1 of {len(sources)} file(s)" in message and "BurnedInAnnotation is YES" in message
    source = pydicom.dcmread(sources[-1])
    for phi in (str(source.PatientID), str(source.PatientName).split("^")[0], str(source.StudyInstanceUID)):
        assert phi not in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(PipelineError, match="not configured"):
        transform({"anonymize": "nope"}, sources[:1], tmp_path / "out")


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Path]]]:
    folder = tmp_path_factory.mktemp("ct")
    patient = Patient(name="Doe^Jane", patient_id="MRN-4711", accession="ACC-0815", birth_date="19610203")
    yield folder, ct_series(folder, patient, slices=6, size=48)
    shutil.rmtree(folder, ignore_errors=True)


def _uids(ds: Dataset, keyword: str) -> set[str]:
    found: set[str] = set()
    for elem in ds.iterall():
        if elem.keyword == keyword and elem.value:
            found.add(str(elem.value))
    return found


@pytest.mark.parametrize("store", [True, False], ids=["sqlite-store", "in-memory"])
def test_deidentified_inference_results_go_out_under_the_original_identity(
    series: tuple[Path, list[Path]], tmp_path: Path, store: bool
) -> None:
    from inference.registry import run_pipeline

    _, sources = series
    originals = [pydicom.dcmread(p) for p in sources]
    config = _config(tmp_path, store=store)
    deid_dir = tmp_path / "deid"
    pseudonymised = deidentify_inputs(config, "research", sources, deid_dir)
    assert len(pseudonymised) == len(sources)
    seen = pydicom.dcmread(pseudonymised[0])
    assert str(seen.PatientID).startswith("RES") and seen.StudyInstanceUID != originals[0].StudyInstanceUID

    results = run_pipeline("qc", deid_dir, {})
    assert results
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    paths = []
    for index, ds in enumerate(results):
        path = out_dir / f"result{index}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    assert str(pydicom.dcmread(paths[0]).PatientID).startswith("RES")  # the pipeline saw pseudonyms

    own_sops = {str(pydicom.dcmread(p).SOPInstanceUID) for p in paths}
    own_series = {str(pydicom.dcmread(p).SeriesInstanceUID) for p in paths}
    reidentify_outputs(config, "research", paths)
    source_sops = {str(ds.SOPInstanceUID) for ds in originals}
    source_series = str(originals[0].SeriesInstanceUID)
    to_sources: set[str] = set()
    for path in paths:
        out = pydicom.dcmread(path)
        assert out.PatientName == originals[0].PatientName and out.PatientID == originals[0].PatientID
        assert out.StudyInstanceUID == originals[0].StudyInstanceUID
        assert out.AccessionNumber == originals[0].AccessionNumber
        assert out.PatientBirthDate == originals[0].PatientBirthDate
        assert out.StudyDate == originals[0].StudyDate
        assert "PatientIdentityRemoved" not in out
        assert str(out.SOPInstanceUID) in own_sops  # the result keeps its own new identity
        referenced = _uids(out, "ReferencedSOPInstanceUID")
        assert referenced <= source_sops | own_sops  # the original images, or another result (SR -> SEG)
        to_sources |= referenced & source_sops
        assert _uids(out, "SeriesInstanceUID") <= {source_series} | own_series
    assert to_sources  # the results reference the ORIGINAL images, not their pseudonyms
    assert not list(out_dir.glob(".*"))
