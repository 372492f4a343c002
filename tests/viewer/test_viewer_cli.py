"""`dicom-node viewer`: serves a folder in OHIF on loopback, prints the address, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dicom_node.samples import Patient, ct_series
from dicom_node.viewer import ViewerError, find_dist

REPO = Path(__file__).resolve().parents[2]


def _dist() -> Path | None:
    try:
        return find_dist()
    except ViewerError:
        return None


def _viewer(*args: str, cwd: Path = REPO) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "dicom_node", "viewer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env=env,
    )


@pytest.mark.skipif(_dist() is None, reason="no OHIF site: run `make ohif`")
def test_viewer_serves_the_folder_in_ohif_and_prints_the_address(tmp_path: Path) -> None:
    files = ct_series(tmp_path / "ct", Patient(name="VIEWER^TEST"), slices=3, size=32)
    process = _viewer(str(tmp_path / "ct"), "--workdir", str(tmp_path / "viewer"))
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"{len(files)} DICOM instances loaded"), lines
        [url] = re.findall(r"OHIF viewer: (http://127\.0\.0\.1:\d+)/", lines[1])
        with urllib.request.urlopen(f"{url}/viewer", timeout=10) as page:  # the single-page app
            assert page.status == 200 and b"app-config.js" in page.read()
        with urllib.request.urlopen(f"{url}/app-config.js", timeout=10) as config:
            assert b"dicom-node-viewer" in config.read()  # ours, not the site's own
        with urllib.request.urlopen(f"{url}/dicom-web/studies", timeout=10) as studies:
            [study] = json.loads(studies.read())
        assert study["00100010"]["Value"][0]["Alphabetic"] == "VIEWER^TEST"
        assert study["00080061"]["Value"] == ["CT"]  # Modalities in Study, for the study list
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_viewer_refuses_a_missing_folder(tmp_path: Path) -> None:
    process = _viewer(str(tmp_path / "nothing"))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and output.count("\n") == 1 and "no such file or folder" in output
