"""What the image installs: the Dockerfile copies pyproject.toml, README.md and the three packages into
the build stage and pip-installs them (not editable). Building the same wheel here, offline, from exactly
those files shows the image gets the pipelines' weights and data and the `dicom-node` entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.deploy.manifests import DEPLOY, REPO, dockerfile_instructions


def test_wheel_from_the_copied_sources_carries_weights_and_entry_point(tmp_path: Path) -> None:
    context = tmp_path / "src"
    context.mkdir()
    build_stage = []
    stages = 0
    for instruction in dockerfile_instructions(DEPLOY / "Dockerfile"):
        stages += instruction.keyword == "FROM"
        if stages > 1:
            break
        build_stage.append(instruction)
    for instruction in build_stage:
        if instruction.keyword != "COPY":
            continue
        *sources, _ = instruction.arguments.split()
        for source in sources:
            path = REPO / source
            if path.is_dir():
                shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, context / source)
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = wheels.glob("dicom_node-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "dicom-node = dicom_node.cli:main" in archive.read(entry_points).decode()
    shipped = {
        p.relative_to(REPO).as_posix() for p in (REPO / "inference").rglob("*") if p.suffix in (".pt", ".gz")
    }
    assert shipped and shipped <= names
    assert any(n.startswith("dicom_node/ledger/migrations/") and n.endswith(".py") for n in names)
    assert any(n.startswith("dicom_node/web/templates/") for n in names)
