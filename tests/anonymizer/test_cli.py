"""`dicom-node anonymize` end to end: batch, resume, audit, layout, --check, --help."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pydicom
import pytest

from dicom_node.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "anon"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    shutil.copytree(DATA, src)
    (src / "notes.txt").write_text("not DICOM")
    (src / "dx" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10")
    return src


def _audit(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "anonymize-audit.jsonl").read_text().splitlines()]


def test_batch_resume_audit_and_check(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, key = tmp_path / "out", tmp_path / "keys" / "anon.key"
    assert main(["anonymize", str(source), str(out), "--key-file", str(key), "--jobs", "2"]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    summary = capsys.readouterr().out
    assert "4 anonymized, 0 refused, 5 failed" in summary  # + SOURCE.md and two LICENSE files
    records = _audit(out)
    failed = {r["source"] for r in records if r["status"] == "failed"}
    assert {"notes.txt", "dx/broken.dcm", "SOURCE.md"} <= failed
    text = (out / "anonymize-audit.jsonl").read_text()
    for phi in ("Regression", "AVeryGood", "123456", "19700101", "Veterinarian"):
        assert phi not in text
    ok = [r for r in records if r["status"] == "ok"]
    assert all(r["actions"]["X"] > 0 for r in ok)  # type: ignore[index]
    assert (out / "siemens" / "epi_pe_ap-00001.dcm").exists()

    assert main(["anonymize", str(source), str(out), "--key-file", str(key), "--jobs", "1"]) == 0
    assert "4 skipped" in capsys.readouterr().out

    assert main(["anonymize", "--check", str(out), "--source", str(source)]) == 0
    assert '"findings": 0' in capsys.readouterr().out
    # the source itself is full of PHI: --check must say so
    assert main(["anonymize", "--check", str(source), "--source", str(source)]) == 1
    report = capsys.readouterr().out
    assert "identifying-value" in report and "removed-present" in report and "uid-not-remapped" in report
    assert "Regression" not in report


def test_same_key_same_bytes_patient_layout(source: Path, tmp_path: Path) -> None:
    key = tmp_path / "anon.key"
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = [
            "anonymize",
            str(source),
            str(out),
            "--key-file",
            str(key),
            "--layout",
            "patient",
            "--jobs",
            "1",
        ]
        assert main(args) == 0
        outs.append(out)
    files_a = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.dcm"))
    files_b = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*.dcm"))
    assert files_a == files_b and len(files_a) == 4
    for rel in files_a:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes()
        ds = pydicom.dcmread(outs[0] / rel)
        assert rel.parts[:3] == (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID)


def test_profile_from_config(source: Path, tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    key = tmp_path / "research.key"
    config.write_text(
        "anonymizer:\n  profiles:\n    research:\n"
        f"      options: [retain_longitudinal_modified_dates, retain-patient-characteristics]\n"
        f"      key_file: {key}\n      pseudonym_prefix: STUDY7\n"
    )
    out = tmp_path / "out"
    assert main(["anonymize", str(source), str(out), "--config", str(config), "--profile", "research"]) == 0
    ds = pydicom.dcmread(out / "dx" / "dx_image.dcm")
    assert ds.PatientID.startswith("STUDY7") and ds.PatientAge == "005Y"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert key.exists()
    args = ["anonymize", "--check", str(out), "--source", str(source), "--config", str(config), "--profile"]
    assert main([*args, "research"]) == 0


def test_bad_input_and_help(tmp_path: Path) -> None:
    assert main(["anonymize", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert main(["anonymize", str(tmp_path), str(tmp_path / "o"), "--option", "retain_everything"]) == 2
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "dicom-node"), "anonymize", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for name in ("retain-longitudinal-modified-dates", "retain-safe-private", "clean-pixel-data", "--check"):
        assert name in proc.stdout
