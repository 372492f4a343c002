"""A corpus we did not write: pydicom's test files (every transfer syntax, RT, SR, waveforms, overlays,
DICOMDIR trees, broken files), the dicom3tools example and highdicom's DX image.

The batch runs once per option set for the module. For each file: a released output that passes the
residual check against its source, or a refusal / failure with its reason; nothing with a finding is
released (fail closed: it goes to the quarantine folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pydicom.data
import pytest

from anonymizer.batch import default_quarantine, run_batch
from anonymizer.check import check_profile, check_tree
from anonymizer.residual import check_output
from anonymizer.settings import ProfileSettings

ROOT = Path(__file__).resolve().parents[2]
PYDICOM_FILES = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent  # type: ignore[arg-type]
PEERS = {
    "dicom3tools/0051.dcm": Path("/usr/share/doc/dicom3tools/examples/0051.dcm"),
    "highdicom/dx_image.dcm": ROOT / "tests" / "data" / "cxr" / "highdicom" / "dx_image.dcm",
}
OPTION_SETS = {
    "basic": [],
    "modified-dates": ["retain_longitudinal_modified_dates", "clean_descriptors", "retain_safe_private"],
    "clean": [
        "clean_structured_content",
        "clean_graphics",
        "retain_patient_characteristics",
        "retain_institution_identity",
        "retain_longitudinal_modified_dates",
    ],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Links to every peer file (nothing copied)."""
    root = tmp_path_factory.mktemp("peer-corpus")
    for path in sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file()):
        link = root / "pydicom" / path.relative_to(PYDICOM_FILES)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    for name, path in PEERS.items():
        if path.exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).symlink_to(path)
    return root


@pytest.fixture(scope="module", params=list(OPTION_SETS))
def batch(request: pytest.FixtureRequest, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp(f"peer-out-{request.param}") / "out"
    profile = ProfileSettings(options=OPTION_SETS[request.param])
    summary = run_batch(corpus, out, profile, b"peer-corpus-key-0123456789abcdef", jobs=1)
    records = [json.loads(line) for line in (out / "anonymize-audit.jsonl").read_text().splitlines()]
    return profile, out, summary, {r["source"]: r for r in records}


def test_every_file_has_an_outcome_with_a_reason(corpus: Path, batch: Any) -> None:
    _, out, summary, records = batch
    sources = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file() or p.is_symlink()}
    assert set(records) == sources
    for record in records.values():
        if record["status"] == "ok":
            assert (out / record["output"]).is_file()
        else:
            assert record["reason"], record["source"]
            assert record["output"] is None or not (out / record["output"]).exists()
    assert summary.anonymized > 100  # the bulk of the corpus is released, not refused


def test_released_outputs_pass_the_residual_check(corpus: Path, batch: Any) -> None:
    profile, out, _, records = batch
    files, findings = check_tree(out, check_profile(profile), corpus)
    assert files == sum(r["status"] == "ok" for r in records.values())
    assert findings == []


def test_quarantined_outputs_are_outside_the_released_tree(corpus: Path, batch: Any) -> None:
    profile, out, _, records = batch
    aside = [r for r in records.values() if "quarantined" in r]
    for record in aside:
        assert record["status"] == "failed" and record["reason"].startswith("residual PHI")
        assert Path(record["quarantined"]).is_relative_to(default_quarantine(out))
        held = pydicom.dcmread(record["quarantined"])
        source = pydicom.dcmread(corpus / record["source"])
        assert check_output(held, source, check_profile(profile)) != []  # what the reason says


def test_uid_in_rle_rt_plan_reference_is_replaced(corpus: Path, batch: Any) -> None:
    _, out, _, records = batch
    for name in ("rtdose.dcm", "rtdose_rle.dcm", "rtdose_rle_1frame.dcm", "rtdose_expb.dcm"):
        record = records[f"pydicom/{name}"]
        assert record["status"] == "ok"
        source = pydicom.dcmread(corpus / "pydicom" / name)
        output = pydicom.dcmread(out / record["output"])
        original = source[0x300C0002][0].ReferencedSOPInstanceUID
        replaced = output[0x300C0002][0].ReferencedSOPInstanceUID
        assert replaced != original and replaced.startswith("2.25.")


def test_refusal_reasons_say_why(batch: Any) -> None:
    _, _, _, records = batch
    assert "DICOMDIR" in records["pydicom/dicomdirtests/DICOMDIR"]["reason"]
    assert "burned-in" in records["pydicom/SC_rgb_rle.dcm"]["reason"]
    assert "past the end of the data" in records["pydicom/rtplan_truncated.dcm"]["reason"]
