"""What every bundle written by :func:`inference.bundle.write_bundle` holds (the trainers' tests)."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

from monai.bundle.utils import DEFAULT_METADATA


def installed(distribution: str) -> str:
    return importlib.metadata.version(distribution).split("+")[0]


def assert_written_by_the_writer(bundle: Path) -> dict[str, Any]:
    """The MONAI layout, the required metadata keys and the installed library versions; the metadata."""
    for part in ("configs/metadata.json", "configs/inference.json", "models/model.pt", "docs/README.md"):
        assert (bundle / part).is_file(), part
    assert (bundle / "LICENSE").read_text().strip()
    metadata: dict[str, Any] = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert set(DEFAULT_METADATA) <= set(metadata)
    assert metadata["monai_version"] == installed("monai")
    assert metadata["pytorch_version"] == installed("torch")
    assert metadata["numpy_version"] == installed("numpy")
    assert metadata["required_packages_version"] == {"dicom-node": installed("dicom-node")}
    assert metadata["version"] in (bundle / "docs" / "README.md").read_text()
    return metadata
