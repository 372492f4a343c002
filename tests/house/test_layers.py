"""The import contracts between dicom_node, inference and anonymizer hold (``.importlinter``).

Runs import-linter's ``lint-imports`` on the repository: a new import across the layers (one not
recorded in ``.importlinter`` as a known violation of #20) fails here, naming the importing line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is not installed (it is in the dev extra of pyproject.toml)"
    return exe


def test_the_layer_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [_lint_imports(), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    contracts = (ROOT / ".importlinter").read_text().count("[importlinter:contract:")
    assert contracts >= 5
    assert result.stdout.count(" KEPT") == contracts, result.stdout  # every contract was checked
