"""Fail closed: an output with a residual finding is never released (batch: quarantined and failed;
node: the job fails with the reason), and ``--check --json`` reports findings for machines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest

from anonymizer.batch import default_quarantine, run_batch
from anonymizer.engine import Anonymizer
from anonymizer.settings import AnonymizerSettings, ProfileSettings
from dicom_node.cli import main
from dicom_node.config import Config, StorageConfig
from dicom_node.dispatch.anonymize_route import anonymize_forward
from dicom_node.errors import PipelineError

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"
KEY = b"fail-closed-key-0123456789abcdef"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    shutil.copytree(DATA / "dx", src)
    return src


@pytest.fixture
def leaky_uids(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that forgets to remap UIDs (what the UN-sequence bug did to one reference)."""

    def keep(self: Anonymizer, value: Any, run: Any) -> Any:
        return value

    monkeypatch.setattr(Anonymizer, "_uids", keep)


def test_batch_quarantines_an_output_with_residual_phi(
    source: Path, tmp_path: Path, leaky_uids: None
) -> None:
    out = tmp_path / "out"
    summary = run_batch(source, out, ProfileSettings(), KEY, jobs=1)
    assert summary.anonymized == 0 and summary.failed == 1
    record = json.loads((out / "anonymize-audit.jsonl").read_text().splitlines()[0])
    assert record["status"] == "failed" and record["reason"].startswith("residual PHI, not released")
    assert "uid-not-remapped at (0008,0018) SOPInstanceUID" in record["reason"]
    assert not (out / "dx_image.dcm").exists()  # nothing released
    held = Path(record["quarantined"])
    assert held == default_quarantine(out) / "dx_image.dcm" and held.is_file()
    source_uid = pydicom.dcmread(source / "dx_image.dcm").SOPInstanceUID
    assert source_uid not in json.dumps(record)  # the reason names the rule and path, never the value


def test_node_route_fails_the_job_with_the_reason(source: Path, tmp_path: Path, leaky_uids: None) -> None:
    profile = ProfileSettings(key_file=tmp_path / "anon.key")
    config = Config(
        storage=StorageConfig(path=tmp_path / "var", fsync=False),
        anonymizer=AnonymizerSettings(profiles={"research": profile}),
    )
    with pytest.raises(PipelineError, match=r"residual PHI \(uid-not-remapped at \(0008,0018\)"):
        anonymize_forward(config)({"anonymize": "research"}, [source / "dx_image.dcm"], tmp_path / "o")
    assert not list((tmp_path / "o").glob("*.dcm")) if (tmp_path / "o").exists() else True


def test_check_json_for_machines(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["anonymize", str(source), str(out), "--key-file", str(tmp_path / "k"), "--jobs", "1"]) == 0
    capsys.readouterr()
    assert main(["anonymize", "--check", str(out), "--source", str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"files": 1, "findings": []}
    assert main(["anonymize", "--check", str(source), "--source", str(source), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    rules = {(f["path"], f["rule"], f["severity"]) for f in report["findings"]}
    assert ("(0010,0010)", "identifying-value", "high") in rules
    assert ("(0008,0018)", "uid-not-remapped", "high") in rules
    assert all(set(f) == {"file", "path", "rule", "severity", "attribute"} for f in report["findings"])
