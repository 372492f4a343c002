"""`dicom-node pipelines` and `dicom-node infer` through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom

from tests.inference.dicom_checks import assert_valid
from tests.inference.pipeline_series import KOREAN, KOREAN_NAME, write_projection, write_slices

EXE = str(Path(sys.executable).parent / "dicom-node")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


def test_pipelines_lists_qc_with_what_it_accepts() -> None:
    proc = _run("pipelines")
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("qc"))
    assert "any image series" in line


def test_infer_writes_valid_outputs(tmp_path: Path) -> None:
    write_slices(tmp_path / "ct", identity=KOREAN)
    proc = _run("infer", "qc", str(tmp_path / "ct"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    written = [Path(line) for line in proc.stdout.splitlines()]
    assert sorted(p.name.split("_")[0] for p in written) == ["SC", "SEG", "SR"]
    for path in written:
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) == KOREAN_NAME
        assert assert_valid(ds, tmp_path) == []
    assert "infer_finished" in proc.stderr  # progress on stderr, in the structured log dialect


def test_infer_on_a_single_projection_image(tmp_path: Path) -> None:
    write_projection(tmp_path / "dx")
    proc = _run("infer", "qc", str(tmp_path / "dx"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(Path(p).name.split("_")[0] for p in proc.stdout.splitlines()) == ["SC", "SR"]


def test_infer_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = _run("infer", "qc", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing" in proc.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not dicom")
    proc = _run("infer", "qc", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no DICOM image" in proc.stderr
    proc = _run("infer", "nope", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "unknown pipeline" in proc.stderr
