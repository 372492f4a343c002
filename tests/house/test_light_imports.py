"""Importing the node, the web app, the CLI parser or the anonymizer loads no heavy library.

torch, MONAI, highdicom and SimpleITK belong to the pipeline child processes and the inference CLI
commands; the node process, the dashboard and the anonymizer must start without them. Each entry point
is imported in a fresh interpreter and its ``sys.modules`` inspected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "monai", "highdicom", "SimpleITK")

ENTRY_POINTS = {
    "node": "import dicom_node, dicom_node.node, dicom_node.wiring",
    "web app": "import dicom_node.web.app, dicom_node.web.server",
    "CLI parser": "from dicom_node.cli import build_parser; build_parser()",
    "anonymizer": "import anonymizer, anonymizer.engine, anonymizer.batch, anonymizer.cli",
}

PROBE = """
import json, sys
{code}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def loaded_top_level_modules(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_probe_sees_a_heavy_import() -> None:
    assert "SimpleITK" in loaded_top_level_modules("import SimpleITK")


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_importing_loads_no_heavy_library(entry: str) -> None:
    loaded = loaded_top_level_modules(ENTRY_POINTS[entry])
    assert "dicom_node" in loaded or "anonymizer" in loaded
    assert not loaded & set(HEAVY), f"{entry} loads {sorted(loaded & set(HEAVY))}"


def test_building_the_cli_parser_loads_no_scipy() -> None:
    loaded = loaded_top_level_modules(ENTRY_POINTS["CLI parser"])
    assert "scipy" not in loaded
